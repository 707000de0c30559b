"""One verdict: for each case, the CLI's exit code, the Dagster asset checks, the report's verdict and
the findings JSON all say what core.verdict decides (real SQLite databases, the real CLI)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pm_pipeline.cli import main
from pm_pipeline.cli.common import exit_code
from pm_pipeline.core.check import TablePair, check_integrity, compare_schema
from pm_pipeline.core.config import load_spec
from pm_pipeline.core.config.spec import MigrationSpec
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import TableReconciliation
from pm_pipeline.core.reconcile import ReconcileOptions, reconcile_table
from pm_pipeline.core.reconcile.combine import combine_partitions, slice_thresholds
from pm_pipeline.core.reconcile.verdict import evaluate_table
from pm_pipeline.core.report import ReportFormat, write_reports
from pm_pipeline.core.report.model import Verdict
from pm_pipeline.core.run import CheckResult, check_report, run_check
from pm_pipeline.core.verdict import VerdictState

ROWS = [(i, f"c{i % 3}", f"{10 * i}.50") for i in range(1, 11)]
READINESS = {
    VerdictState.PASS: Verdict.READY,
    VerdictState.PASS_WITH_WARNINGS: Verdict.READY_WITH_RISKS,
    VerdictState.FAIL: Verdict.NOT_READY,
    VerdictState.INCOMPLETE: Verdict.INCOMPLETE,
}
EXIT = {
    VerdictState.PASS: 0,
    VerdictState.PASS_WITH_WARNINGS: 0,
    VerdictState.FAIL: 1,
    VerdictState.INCOMPLETE: 3,
}


def _database(path: Path, statements: Sequence[str] = ()) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, total NUMERIC)")
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?)", ROWS)
        for statement in statements:
            conn.execute(statement)
    return f"sqlite:///{path}"


def _spec(tmp_path: Path, defects: Sequence[str], thresholds: dict[str, Any], rules: list[Any]) -> Path:
    document = {
        "version": 1,
        "name": "verdict-case",
        "source": {"url": _database(tmp_path / "source.db")},
        "target": {"url": _database(tmp_path / "target.db", defects)},
        "tables": [{"source": "orders", "key": ["id"]}],
        "thresholds": thresholds,
        "integrity": {"gx": {"enabled": False}, "rules": rules},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Views:
    exit_code: int
    dagster: VerdictState
    report: Verdict
    json_state: str
    json_readiness: str


def _dagster_state(result: TableReconciliation, spec: MigrationSpec) -> VerdictState:
    """The four asset checks of ``verified/<table>``, computed as the Dagster assets compute them."""
    mapping = spec.tables[0]
    with connect(spec.source.url) as source, connect(spec.target.url) as target:
        pair = TablePair.build(source=source, target=target, mapping=mapping, spec=spec, mappings=spec.tables)
        schema = compare_schema(pair)
        integrity, _ = check_integrity(pair, settings=spec.integrity)
    outcomes = evaluate_table(
        result,
        thresholds=spec.thresholds,
        schema_findings=schema.findings,
        integrity_findings=integrity,
        mapping=mapping,
    )
    failed = [o for o in outcomes if not o.passed]
    if failed:
        incomplete = all(o.description.startswith("incomplete") for o in failed)
        return VerdictState.INCOMPLETE if incomplete else VerdictState.FAIL
    warned = any(o.severity.value == "warning" for o in outcomes)
    return VerdictState.PASS_WITH_WARNINGS if warned else VerdictState.PASS


def _views(spec_path: Path, tmp_path: Path) -> tuple[CheckResult, Views]:
    json_path = tmp_path / "out" / "findings.json"
    json_path.parent.mkdir()
    code = main(["check", "--spec", str(spec_path), "--json", str(json_path), "--no-progress"])
    document = json.loads(json_path.read_text(encoding="utf-8"))
    spec = load_spec(spec_path)
    result = run_check(spec)
    report = check_report(result, spec_checksum="test", launched_by="test")
    views = Views(
        exit_code=code,
        dagster=_dagster_state(result.tables[0], spec) if result.tables else result.verdict.state,
        report=report.verdict,
        json_state=document["verdict"]["state"],
        json_readiness=document["verdict"]["readiness"],
    )
    return result, views


def _assert_agree(state: VerdictState, views: Views) -> None:
    assert views == Views(
        exit_code=EXIT[state],
        dagster=state,
        report=READINESS[state],
        json_state=str(state),
        json_readiness=str(READINESS[state]),
    )


CASES = [
    # A correct migration: every view passes.
    ("clean", [], {}, [], VerdictState.PASS),
    # The reported disagreement: half the rows lost, missing_row tolerated, but the match score
    # (0.5) is under min_match_score 0.99: the report used to say "ready with accepted risks".
    (
        "tolerated-missing-under-score",
        ["DELETE FROM orders WHERE id <= 5"],
        {"tolerated_categories": ["missing_row"], "min_match_score": 0.99},
        [],
        VerdictState.FAIL,
    ),
    # The same loss accepted on purpose (an archive cut-off): tolerated, and the score allowed.
    (
        "tolerated-missing-within-score",
        ["DELETE FROM orders WHERE id <= 5"],
        {"tolerated_categories": ["missing_row"], "min_match_score": 0.4},
        [],
        VerdictState.PASS_WITH_WARNINGS,
    ),
    # One rounded total within max_changed_rows and the score: a warning only.
    (
        "changed-within-limits",
        ["UPDATE orders SET total = 31 WHERE id = 3"],
        {"max_changed_rows": 1, "min_match_score": 0.9},
        [],
        VerdictState.PASS_WITH_WARNINGS,
    ),
    # The same change with the default thresholds: a difference, exit 1.
    ("changed-default", ["UPDATE orders SET total = 31 WHERE id = 3"], {}, [], VerdictState.FAIL),
    # A declared rule with a typo in its SQL: the check cannot run, the run proves nothing.
    (
        "check-error",
        [],
        {},
        [{"name": "typo", "table": "orders", "check": "total >>> 0"}],
        VerdictState.INCOMPLETE,
    ),
    # A check error next to a real difference: the difference decides (fail, exit 1).
    (
        "check-error-and-missing",
        ["DELETE FROM orders WHERE id = 4"],
        {},
        [{"name": "typo", "table": "orders", "check": "total >>> 0"}],
        VerdictState.FAIL,
    ),
]


@pytest.mark.parametrize(
    ("defects", "thresholds", "rules", "state"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_every_view_reads_the_one_verdict(
    tmp_path: Path, defects: list[str], thresholds: dict[str, Any], rules: list[Any], state: VerdictState
) -> None:
    result, views = _views(_spec(tmp_path, defects, thresholds, rules), tmp_path)
    assert result.verdict.state is state, result.verdict.to_json()
    _assert_agree(state, views)
    if rules:
        assert result.verdict.incomplete_checks == ("integrity: rule typo on orders",)


@pytest.mark.parametrize(
    ("max_missing", "state"),
    [
        # Three rows lost across buckets, none over the limit alone: the table's total decides.
        (2, VerdictState.FAIL),
        (3, VerdictState.PASS_WITH_WARNINGS),
    ],
)
def test_a_table_combined_from_buckets_gets_the_whole_table_verdict(
    tmp_path: Path, max_missing: int, state: VerdictState
) -> None:
    thresholds = {"max_missing_rows": max_missing, "min_match_score": 0.5}
    spec_path = _spec(tmp_path, ["DELETE FROM orders WHERE id IN (2, 5, 9)"], thresholds, [])
    spec = load_spec(spec_path)
    whole = run_check(spec)
    options = ReconcileOptions(thresholds=slice_thresholds(spec.thresholds))
    with connect(spec.source.url) as source, connect(spec.target.url) as target:
        parts = [
            reconcile_table(
                source=source,
                target=target,
                mapping=spec.tables[0],
                options=ReconcileOptions(**{**options.__dict__, "partition": (index, 4)}),
            )
            for index in range(4)
        ]
    assert max(p.missing_rows for p in parts) < 3
    combined = combine_partitions(parts, thresholds=spec.thresholds)
    result = CheckResult(**{**whole.__dict__, "tables": (combined,)})
    report = check_report(result, spec_checksum="test", launched_by="test")
    out = write_reports(report, directory=tmp_path / "out", formats=[ReportFormat.JSON])
    document = json.loads(out[ReportFormat.JSON].read_text(encoding="utf-8"))
    views = Views(
        exit_code=exit_code(result.verdict.state),
        dagster=_dagster_state(combined, spec),
        report=report.verdict,
        json_state=document["verdict"]["state"],
        json_readiness=document["verdict"]["readiness"],
    )
    assert whole.verdict.state is state
    _assert_agree(state, views)
