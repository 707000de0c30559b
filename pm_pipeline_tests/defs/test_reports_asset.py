"""The report asset materializes even when the demo run fails its blocking checks, and its files hold
the seeded findings."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from pm_pipeline_tests.test_definitions import TABLES, DemoRun, failing_demo_run

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    return failing_demo_run(tmp_path_factory.getbasetemp())


def test_the_report_materializes_although_the_run_fails(failing_run: DemoRun) -> None:
    paths, result = failing_run.paths, failing_run.result
    assert not result.success
    (materialization,) = result.asset_materializations_for_node("reports__migration_report")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["verdict"] == "not_ready"
    # The run's own report set, which the reports folder's 'latest' names.
    latest = (paths.directory / "reports" / "latest").resolve()
    assert Path(metadata["html_path"]).resolve() == latest / "report.html"
    assert metadata["open"] == (latest / "report.html").as_uri()
    assert metadata["json_path"].startswith(str(paths.directory.resolve() / "reports"))
    assert "customers" in metadata["summary"]
    # The report did not wait for the verdicts, which all failed.
    failed = {e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
    assert "reports__migration_report" not in failed
    assert failed == {f"verified__{t}" for t in TABLES}


def test_the_report_files_hold_the_findings(failing_run: DemoRun) -> None:
    paths, result = failing_run.paths, failing_run.result
    reports = paths.directory / "reports" / "latest"
    html = (reports / "report.html").read_text(encoding="utf-8")
    assert "<html" in html.lower()
    assert all(table in html for table in TABLES)
    document = json.loads((reports / "findings.json").read_text(encoding="utf-8"))
    assert document["verdict"]["readiness"] == "not_ready"
    assert document["verdict"]["state"] == "fail"
    assert document["run"]["run_id"] == result.run_id
    counts: dict[tuple[str, str], int] = {}
    for finding in document["findings"]:
        key = (finding["table"], finding["category"])
        counts[key] = counts.get(key, 0) + 1
    assert counts[("customers", "missing_row")] == 3
    assert counts[("payments", "missing_row")] == 1
    assert counts[("orders", "extra_row")] == 1
    assert counts[("order_items", "value_mismatch")] == 1
    mismatched = {
        f["column"]
        for f in document["findings"]
        if f["table"] == "products" and f["category"] == "value_mismatch"
    }
    assert mismatched == {"price", "status"}


def test_report_and_reconciliation_agree(failing_run: DemoRun) -> None:
    paths, result = failing_run.paths, failing_run.result
    document = json.loads(
        (paths.directory / "reports" / "latest" / "findings.json").read_text(encoding="utf-8")
    )
    for table in TABLES:
        (materialization,) = result.asset_materializations_for_node(f"reconciliation__{table}")
        missing = materialization.metadata["missing_rows"].value
        reported = [f for f in document["findings"] if f["table"] == table and f["category"] == "missing_row"]
        assert len(reported) == missing, table


def test_report_is_stored_on_the_instance(failing_run: DemoRun) -> None:
    key = dg.AssetKey(["reports", "migration_report"])
    event = failing_run.instance.get_latest_materialization_event(key)
    assert event is not None
    assert event.run_id == failing_run.result.run_id
