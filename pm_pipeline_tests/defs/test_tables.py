"""The per-table assets run for real: the demo's seeded defects land in the reconciliation assets and
fail the blocking checks (in-process and through the `dagster` CLI), while a clean migration passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pm_pipeline.core.reconcile.verdict import CHECK_NAMES
from pm_pipeline_tests.test_definitions import (
    TABLES,
    DemoRun,
    build,
    clean_spec,
    dagster_home,
    demo_copy,
    failing_demo_run,
)

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")

# Seeded in pm_pipeline/demo/generate.py (DEFECTS): what each reconciliation must count.
EXPECTED_ROWS = {
    "customers": {"missing_rows": 3, "extra_rows": 0, "changed_rows": 2},
    "products": {"missing_rows": 0, "extra_rows": 0, "changed_rows": 2},
    "orders": {"missing_rows": 0, "extra_rows": 1, "changed_rows": 2},
    "order_items": {"missing_rows": 0, "extra_rows": 0, "changed_rows": 1},
    "payments": {"missing_rows": 1, "extra_rows": 0, "changed_rows": 0},
}


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    return failing_demo_run(tmp_path_factory.getbasetemp())


def _metadata(result: Any, node: str) -> dict[str, Any]:
    (materialization,) = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in materialization.metadata.items()}


def _checks(result: Any) -> dict[tuple[str, str], Any]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def test_the_run_fails_on_the_blocking_checks(failing_run: DemoRun) -> None:
    result = failing_run.result
    assert not result.success
    assert result.dagster_run.status == dg.DagsterRunStatus.FAILURE
    failed_steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
    assert failed_steps == {f"verified__{t}" for t in TABLES}


@pytest.mark.parametrize("table", TABLES)
def test_reconciliation_holds_the_seeded_defects(failing_run: DemoRun, table: str) -> None:
    result = failing_run.result
    metadata = _metadata(result, f"reconciliation__{table}")
    assert {k: metadata[k] for k in EXPECTED_ROWS[table]} == EXPECTED_ROWS[table]
    assert metadata["duplicate_keys"] == 0
    assert (
        metadata["source_rows"] - metadata["missing_rows"] + metadata["extra_rows"] == metadata["target_rows"]
    )


def test_checked_assets_are_materialized_before_their_checks_fail(failing_run: DemoRun) -> None:
    result = failing_run.result
    metadata = _metadata(result, "verified__customers")
    assert metadata["passed"] is False
    assert metadata["missing_rows"] == 3


def test_the_verdict_observes_both_tables_with_the_rows_it_compared(failing_run: DemoRun) -> None:
    result, instance = failing_run.result, failing_run.instance
    for table in TABLES:
        metadata = _metadata(result, f"reconciliation__{table}")
        for side in ("source", "target"):
            (record,) = instance.fetch_observations(dg.AssetKey([side, table]), limit=5).records
            observed = record.asset_observation.metadata
            assert record.run_id == result.run_id
            assert observed["row_count"].value == metadata[f"{side}_rows"], (table, side)


def test_match_scores_read_as_percentages(failing_run: DemoRun) -> None:
    metadata = _metadata(failing_run.result, "reconciliation__customers")
    assert metadata["match_score_percent"] == f"{metadata['match_score'] * 100:.4f} %"
    assert metadata["match_score_percent"] != "100.0000 %"  # customers lost rows and values
    values = _checks(failing_run.result)[("verified/customers", "values_match")]
    assert values.metadata["match_score"].value == metadata["match_score_percent"]


def test_failing_checks_name_the_keys_and_columns(failing_run: DemoRun) -> None:
    paths, result = failing_run.paths, failing_run.result
    checks = _checks(result)
    assert len(checks) == len(CHECK_NAMES) * len(TABLES)
    rows = checks[("verified/customers", "rows_match")]
    assert not rows.passed
    assert rows.severity == dg.AssetCheckSeverity.ERROR
    findings = json.loads(
        (paths.directory / "reports" / "latest" / "findings.json").read_text(encoding="utf-8")
    )
    missing_keys = [
        f["key"] for f in findings["findings"] if f["table"] == "customers" and f["category"] == "missing_row"
    ]
    assert len(missing_keys) == 3
    assert rows.metadata["sample_keys"].value == missing_keys
    values = checks[("verified/customers", "values_match")]
    assert not values.passed
    assert sorted(values.metadata["columns"].value) == ["email", "full_name"]
    assert checks[("verified/order_items", "values_match")].metadata["columns"].value == ["quantity"]
    payments = checks[("verified/payments", "rows_match")]
    assert len(payments.metadata["sample_keys"].value) == 1
    # products has every row, only changed values: its rows check passes.
    assert checks[("verified/products", "rows_match")].passed


def test_a_clean_migration_passes_every_check(tmp_path_factory: pytest.TempPathFactory) -> None:
    paths = demo_copy(tmp_path_factory.getbasetemp(), tmp_path_factory.mktemp("clean"))
    defs = build(clean_spec(paths))
    result = defs.resolve_job_def("migration_check").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == len(CHECK_NAMES) * len(TABLES)
    assert all(c.passed for c in checks)
    metadata = _metadata(result, "reconciliation__customers")
    assert metadata["missing_rows"] == metadata["extra_rows"] == metadata["changed_rows"] == 0
    assert metadata["source_rows"] == metadata["target_rows"] > 0
    assert (paths.directory / "clean_reports" / "latest" / "report.html").exists()


def _materialize_with_cli(spec: Path, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PM_SPEC": str(spec), "DAGSTER_HOME": str(home)}
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.run(
        [
            str(dagster),
            "asset",
            "materialize",
            "-m",
            "pm_pipeline.definitions",
            "--select",
            "reconciliation/customers,schema/customers,integrity/customers,verified/customers",
        ],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.long
@pytest.mark.slow
def test_the_dagster_cli_exits_non_zero_on_failing_checks(tmp_path_factory: pytest.TempPathFactory) -> None:
    work = tmp_path_factory.mktemp("cli")
    paths = demo_copy(tmp_path_factory.getbasetemp(), work / "demo")
    home = dagster_home(work / "dagster_home")

    failing = _materialize_with_cli(paths.spec, home, work)
    assert failing.returncode != 0, failing.stderr[-3000:]
    assert "rows_match" in failing.stderr + failing.stdout

    clean = _materialize_with_cli(clean_spec(paths), home, work)
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert "RUN_SUCCESS" in clean.stderr + clean.stdout
