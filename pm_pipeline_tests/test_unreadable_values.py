"""Values a side holds that cannot be read as their column's type ('abc' in a SQLite INTEGER column)
are unreadable_value findings naming the side, column, key and raw text (masked by classification),
while the rest of the table and of the run is still compared."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pm_pipeline.cli import main
from pm_pipeline.core.reconcile.unreadable import UNREADABLE_SAMPLE

EXIT_DIFFERENCES = 1
DDL = [
    "CREATE TABLE items (id INTEGER PRIMARY KEY, qty INTEGER, name TEXT)",
    "CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT)",
    "INSERT INTO tags VALUES (1, 'x'), (2, 'y')",
]


def _database(path: Path, qty_of_3: str, name_of_2: str = "b") -> str:
    with sqlite3.connect(path) as conn:
        for statement in DDL:
            conn.execute(statement)
        # SQLite stores what it is given: a text in an INTEGER column stays text.
        conn.execute("INSERT INTO items VALUES (1, 1, 'a'), (2, 2, ?), (3, ?, 'c')", (name_of_2, qty_of_3))
    return f"sqlite:///{path}"


def _check(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    source: str,
    target: str,
    *spec_columns: str,
    extra: tuple[str, ...] = (),
) -> tuple[int, str, list[dict[str, object]], str]:
    spec = tmp_path / "spec.yaml"
    columns = "".join(spec_columns)
    spec.write_text(
        f"source: {{url: '{source}'}}\ntarget: {{url: '{target}'}}\n"
        f"tables:\n  - source: items\n{columns}  - source: tags\n"
    )
    findings_json = tmp_path / "out" / "findings.json"
    code = main(["check", "--spec", str(spec), "--no-progress", "--json", str(findings_json), *extra])
    out, err = capsys.readouterr()
    text = findings_json.read_text()
    return code, out + err, json.loads(text)["findings"], text


def _by(findings: list[dict[str, object]], category: str) -> list[dict[str, object]]:
    return [f for f in findings if f["category"] == category]


# Each strategy canonicalises in its own place: the stash (arrow), the row hashes of the side that
# cannot hash in SQL (pushdown, bucket); each once ended the run on the first such value.
@pytest.mark.parametrize("strategy", ["arrow", "pushdown", "bucket"])
def test_text_in_an_integer_column_is_a_finding_and_the_rest_is_compared(
    strategy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _database(tmp_path / "s.db", qty_of_3="abc")
    # A real difference elsewhere in the same table: it must still be found.
    target = _database(tmp_path / "t.db", qty_of_3="3", name_of_2="B")
    code, output, findings, _ = _check(tmp_path, capsys, source, target, extra=("--strategy", strategy))
    assert code == EXIT_DIFFERENCES, output
    assert "Traceback" not in output
    [unreadable] = _by(findings, "unreadable_value")
    assert (unreadable["table"], unreadable["column"], unreadable["key"]) == ("items", "qty", {"id": 3})
    assert (unreadable["source_value"], unreadable["target_value"], unreadable["severity"]) == (
        "abc",
        None,
        "error",
    )
    assert "source value 'abc'" in str(unreadable["message"])
    mismatches = {
        (f["column"], json.dumps(f["key"]), f["severity"], f["caused_by"])
        for f in _by(findings, "value_mismatch")
    }
    # The unreadable cell differs too, as a consequence: one defect, one error.
    assert mismatches == {
        ("name", '{"id": 2}', "error", None),
        ("qty", '{"id": 3}', "info", "unreadable_value"),
    }
    assert not [f for f in findings if f["table"] == "tags"]


def test_an_unreadable_value_in_the_target_names_the_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _database(tmp_path / "s.db", qty_of_3="3")
    target = _database(tmp_path / "t.db", qty_of_3="3 units")
    code, output, findings, _ = _check(tmp_path, capsys, source, target)
    assert code == EXIT_DIFFERENCES, output
    [unreadable] = _by(findings, "unreadable_value")
    assert (unreadable["target_value"], unreadable["source_value"]) == ("3 units", None)
    assert "target value '3 units'" in str(unreadable["message"])


def test_the_same_unreadable_value_on_both_sides_is_reported_not_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _database(tmp_path / "s.db", qty_of_3="abc")
    target = _database(tmp_path / "t.db", qty_of_3="abc")
    code, output, findings, _ = _check(tmp_path, capsys, source, target)
    # Copied faithfully: the source's data quality, not a migration defect. A correct migration passes.
    assert code == 0, output
    [copied] = _by(findings, "unreadable_value")
    assert (copied["severity"], copied["column"], copied["key"]) == ("info", "qty", {"id": 3})
    assert (copied["source_value"], copied["target_value"]) == ("abc", "abc")
    assert "1 value(s) of column qty" in str(copied["message"])
    assert _by(findings, "value_mismatch") == []


def _whole_column(path: Path, rows: int, text: str) -> str:
    with sqlite3.connect(path) as conn:
        for statement in DDL:
            conn.execute(statement)
        conn.executemany(
            "INSERT INTO items VALUES (?, ?, 'n')", [(i, text.format(i) if text else i) for i in range(rows)]
        )
    return f"sqlite:///{path}"


def test_a_whole_column_copied_faithfully_is_one_info_finding_with_its_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _whole_column(tmp_path / "s.db", 3000, "q{}")
    target = _whole_column(tmp_path / "t.db", 3000, "q{}")
    code, output, findings, _ = _check(tmp_path, capsys, source, target)
    assert code == 0, output
    [copied] = findings
    assert (copied["category"], copied["severity"], copied["key"]) == ("unreadable_value", "info", {"id": 0})
    assert "3,000 value(s) of column qty" in str(copied["message"])
    assert "keys id=0; id=1; id=2; id=3; id=4, ..." in str(copied["message"])


def test_a_copy_that_changed_an_unreadable_value_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _database(tmp_path / "s.db", qty_of_3="abc")
    target = _database(tmp_path / "t.db", qty_of_3="abd")
    code, output, findings, _ = _check(tmp_path, capsys, source, target)
    assert code == EXIT_DIFFERENCES, output
    unreadable = {
        (f["severity"], f["source_value"], f["target_value"]) for f in _by(findings, "unreadable_value")
    }
    assert unreadable == {("error", None, "abd"), ("error", "abc", None)}


def test_unreadable_values_on_one_side_are_listed_up_to_a_sample_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _whole_column(tmp_path / "s.db", 3000, "q{}")
    # The target read the text as numbers: every source value stands alone.
    target = _whole_column(tmp_path / "t.db", 3000, "")
    code, output, findings, _ = _check(tmp_path, capsys, source, target)
    assert code == EXIT_DIFFERENCES, output
    unreadable = _by(findings, "unreadable_value")
    assert {f["severity"] for f in unreadable} == {"error"}
    listed = [f["key"] for f in unreadable if f["key"] is not None]
    assert listed == [{"id": i} for i in range(UNREADABLE_SAMPLE)]
    [rest] = [f for f in unreadable if f["key"] is None]
    assert "3,000 source value(s) of column qty" in str(rest["message"])
    assert f"{3000 - UNREADABLE_SAMPLE:,} more" in str(rest["message"])


def test_the_raw_text_of_a_classified_column_is_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    canary = "Qx7vCanary"
    source = _database(tmp_path / "s.db", qty_of_3=canary)
    target = _database(tmp_path / "t.db", qty_of_3="3")
    code, output, findings, text = _check(
        tmp_path,
        capsys,
        source,
        target,
        "    columns:\n      qty: {classification: restricted}\n",
        extra=("--reports", str(tmp_path / "reports")),
    )
    assert code == EXIT_DIFFERENCES, output
    [unreadable] = _by(findings, "unreadable_value")
    assert unreadable["key"] == {"id": 3} and unreadable["source_value"] not in (None, canary)
    written = [path.read_bytes() for path in (tmp_path / "reports").rglob("*") if path.is_file()]
    assert canary not in text and canary not in output
    assert not [blob for blob in written if canary.encode() in blob]


def test_the_raw_text_of_a_classified_column_copied_faithfully_is_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    canary = "Qx7vCanary"
    source = _database(tmp_path / "s.db", qty_of_3=canary)
    target = _database(tmp_path / "t.db", qty_of_3=canary)
    code, output, findings, text = _check(
        tmp_path,
        capsys,
        source,
        target,
        "    columns:\n      qty: {classification: restricted}\n",
        extra=("--reports", str(tmp_path / "reports")),
    )
    assert code == 0, output
    [copied] = _by(findings, "unreadable_value")
    assert copied["severity"] == "info" and copied["source_value"] not in (None, canary)
    written = [path.read_bytes() for path in (tmp_path / "reports").rglob("*") if path.is_file()]
    assert canary not in text and canary not in output
    assert not [blob for blob in written if canary.encode() in blob]
