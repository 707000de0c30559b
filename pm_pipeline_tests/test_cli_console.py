"""What `pm-pipeline check` prints: findings grouped by importance with keys, raw and canonical
values made visible and masked by classification, capped to a screen; --format json and quiet."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pm_pipeline.cli import main

COLUMNS = 30  # enough groups of changed values to fill more than a screen


def _sqlite(path: Path, *statements: str) -> str:
    with sqlite3.connect(path) as connection:
        for statement in statements:
            connection.execute(statement)
    return f"sqlite:///{path}"


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    """A migration with a lost row, a trailing space, a one-hour shift and a changed restricted value."""
    ddl = "CREATE TABLE people (id INTEGER PRIMARY KEY, city TEXT, seen DATETIME, ssn TEXT)"
    source = _sqlite(
        tmp_path / "s.db", ddl,
        "INSERT INTO people VALUES (1, 'Edinburgh ', '2023-02-20 10:54:00', '111-22-3333'),"
        " (2, 'Leith', '2023-02-20 11:00:00', '444-55-6666'), (3, 'Perth', '2023-02-21 08:00:00', '777-88-9999')",
    )  # fmt: skip
    target = _sqlite(
        tmp_path / "t.db", ddl,
        "INSERT INTO people VALUES (1, 'Edinburgh', '2023-02-20 10:54:00', '111-22-3333'),"
        " (2, 'Leith', '2023-02-20 12:00:00', '444-55-0000')",
    )  # fmt: skip
    path = tmp_path / "migration.yaml"
    path.write_text(
        f"name: people\nsource: {{url: '{source}'}}\ntarget: {{url: '{target}'}}\n"
        "tables:\n  - source: people\n    columns: {ssn: {classification: restricted}}\n"
        "reports: {clearance: internal, directory: out}\n",
        encoding="utf-8",
    )
    return path


def test_findings_are_grouped_most_important_first_with_visible_values(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--spec", str(spec), "--no-progress", "--no-integrity"]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("Findings, most important first")))
    headers = [line for line in lines[start + 1 :] if not line.startswith(" ") and " x " in line]
    assert [h.split(" x ")[1].split(":")[0] for h in headers] == [
        "people missing_row",
        "people.seen value_mismatch",  # a changed time before a changed text: business impact
        "people.city value_mismatch",
        "people.ssn value_mismatch",
        "people.id sequence_behind",  # the lost row was the last one: ids would be handed out again
    ]
    assert "    id=3" in lines
    assert "    id=1: 'Edinburgh␠' -> 'Edinburgh'" in lines
    # Raw values as stored, canonical instants in UTC beside them.
    assert (
        "    id=2: '2023-02-20 11:00:00' -> '2023-02-20 12:00:00' "
        "(canonical '2023-02-20T11:00:00Z' -> '2023-02-20T12:00:00Z')"
    ) in lines
    assert "    id=2: '***' -> '***'" in lines  # restricted, above the report's clearance
    assert "444-55" not in out
    (report_set,) = [p for p in (spec.parent / "out").iterdir() if p.is_dir() and not p.is_symlink()]
    assert lines[-2:] == [f"report: {report_set / 'report.html'}", f"reports: {report_set}"]
    assert lines[-3] == "FAIL: differences found"


def test_a_screenful_then_how_many_more_and_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = ", ".join(f"c{i} TEXT" for i in range(COLUMNS))
    ddl = f"CREATE TABLE wide (id INTEGER PRIMARY KEY, {names})"
    values = ", ".join(f"'v{i}'" for i in range(COLUMNS))
    changed = ", ".join(f"'w{i}'" for i in range(COLUMNS))
    source = _sqlite(tmp_path / "s.db", ddl, f"INSERT INTO wide VALUES (1, {values}), (2, {values})")
    target = _sqlite(tmp_path / "t.db", ddl, f"INSERT INTO wide VALUES (1, {changed}), (2, {changed})")
    reports = tmp_path / "reports"
    args = [
        "check",
        "--source",
        source,
        "--target",
        target,
        "--reports",
        str(reports),
        "--no-progress",
        "--no-integrity",
    ]
    assert main(args) == 1
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Findings, most important first"))
    (more,) = [line for line in lines if " more finding(s) in " in line]
    shown = lines[start : lines.index(more)]
    assert len(shown) <= 40
    examples = sum(1 for line in shown if line.startswith("    id="))
    (report_set,) = [p for p in reports.iterdir() if p.is_dir() and not p.is_symlink()]
    assert more == f"{2 * COLUMNS - examples:,} more finding(s) in {report_set / 'report.html'}"


def test_json_format_prints_one_document_naming_the_set(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--spec", str(spec), "--no-progress", "--no-integrity", "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["verdict"]["state"] == "fail"
    assert [g["category"] for g in document["groups"]][:2] == ["missing_row", "value_mismatch"]
    ssn = next(g for g in document["groups"] if g["column"] == "ssn")
    assert ssn["examples"][0]["source_value"] == "***"
    assert Path(document["reports"], "manifest.json").exists()
    assert document["run"]["run_id"] == Path(document["reports"]).name


def test_quiet_format_prints_the_verdict_and_the_set_only(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--spec", str(spec), "--no-progress", "--no-integrity", "--format", "quiet"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "FAIL: differences found" and lines[-1].startswith(f"reports: {spec.parent / 'out'}/")
    assert len(lines) == 3


def test_no_reports_writes_nothing_and_says_where_findings_would_be(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--spec", str(spec), "--no-progress", "--no-integrity", "--no-reports"]) == 1
    out = capsys.readouterr().out
    assert not (spec.parent / "out").exists()
    assert out.rstrip().splitlines()[-1] == "FAIL: differences found"


def test_counts_of_a_table_whose_findings_were_sampled_are_lower_bounds() -> None:
    import dataclasses
    import io

    from rich.console import Console

    from pm_pipeline.cli.console import print_findings
    from pm_pipeline_tests.core.report.support import (
        accounts_reconciliation,
        customers_reconciliation,
        sample_report,
    )

    sampled = dataclasses.replace(customers_reconciliation(), findings_truncated=True)
    report = sample_report(tables=(sampled, accounts_reconciliation()))
    out = io.StringIO()
    print_findings(report, Console(file=out, width=200), where="report.html")
    heads = [line for line in out.getvalue().splitlines() if " x " in line and not line.startswith(" ")]
    rows = ("missing_row", "extra_row", "duplicate_key", "value_mismatch")
    customers = [h for h in heads if " x customers" in h and any(c in h for c in rows)]
    assert customers and all("+ x customers" in h for h in customers), heads
    assert not [h for h in heads if "+ x accounts" in h]


def test_on_a_terminal_the_findings_fit_its_height() -> None:
    import io

    from rich.console import Console

    from pm_pipeline.cli.console import print_findings
    from pm_pipeline_tests.core.report.support import sample_report

    for height, expected in ((16, 10), (200, None)):
        out = io.StringIO()
        console = Console(file=out, width=200, height=height, force_terminal=True, color_system=None)
        print_findings(sample_report(), console, where="report.html")
        lines = out.getvalue().splitlines()
        more = [line for line in lines if " more finding(s) in report.html" in line]
        if expected is None:
            assert more == []  # every finding fits a tall terminal
        else:
            assert len(lines) - len(more) <= expected and more, lines
