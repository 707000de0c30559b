"""A table the spec splits into key-hash buckets: a partitioned bucket asset and its own job, the main
job combining the buckets into the table's reconciliation (equal to a whole-table run), progress
logged per bucket, and a precise failure while buckets are missing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from pm_pipeline.core.config import load_spec
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import TableReconciliation
from pm_pipeline.core.reconcile import ReconcileOptions, reconcile_table
from pm_pipeline.defs.assets.reports import REPORT_KEY
from pm_pipeline.defs.assets.tables import table_keys
from pm_pipeline.defs.partitions import bucket_job_name, bucket_key, report_table_key
from pm_pipeline.defs.presentation import ENGINE_TAG
from pm_pipeline.demo.generate import DemoPaths, demo_spec_text
from pm_pipeline_tests.test_definitions import TABLES, build, definitions_module, demo_copy

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")

BUCKETS = 4


def partitioned_spec(directory: Path, base: Path, buckets: int = BUCKETS) -> Path:
    """The demo's spec with its orders table split into key-hash buckets."""
    paths = demo_copy(base, directory)
    text = paths.spec.read_text(encoding="utf-8")
    paths.spec.write_text(
        text.replace("  - source: orders\n", f"  - source: orders\n    partitions: {buckets}\n"),
        encoding="utf-8",
    )
    return paths.spec


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return partitioned_spec(tmp_path_factory.mktemp("partitioned"), tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def defs(spec_path: Path) -> Any:
    return build(spec_path)


def whole_table(spec_path: Path, table: str) -> TableReconciliation:
    spec = load_spec(spec_path)
    with connect(spec.source.url) as source, connect(spec.target.url) as target:
        return reconcile_table(
            source=source,
            target=target,
            mapping=spec.mapping_for(table),
            source_endpoint=spec.source,
            target_endpoint=spec.target,
            options=ReconcileOptions(thresholds=spec.thresholds),
        )


def summary(result: TableReconciliation) -> dict[str, Any]:
    """What must not depend on how a table was cut: counts, score, findings and column statistics."""
    findings = sorted(
        (str(f.category), json.dumps(f.key, sort_keys=True), f.column, str(f.severity), f.message)
        for f in result.findings
    )
    counts = (
        "source_rows", "target_rows", "matched_rows", "missing_rows", "extra_rows", "duplicate_keys_source",
        "duplicate_keys_target", "changed_rows", "rows_equal_under_rule",
    )  # fmt: skip
    return {
        **{name: getattr(result, name) for name in counts},
        "match_score": result.match_score,
        "findings": findings,
        "columns": result.columns,
    }


def _run_buckets(defs: Any, instance: dg.DagsterInstance, partitions: Iterable[int]) -> None:
    job = defs.resolve_job_def(bucket_job_name("orders"))
    for partition in partitions:
        assert job.execute_in_process(instance=instance, partition_key=str(partition)).success


def _combine(defs: Any, instance: dg.DagsterInstance) -> Any:
    return defs.resolve_job_def("migration_check").execute_in_process(
        instance=instance, asset_selection=[table_keys("orders").reconciliation], raise_on_error=False
    )


def _failure(result: Any) -> str:
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return str(failure.event_specific_data.error.message)  # type: ignore[union-attr]


def test_a_partitioned_table_has_a_bucket_asset_and_a_job_and_the_main_job_leaves_buckets_out(
    defs: Any, spec_path: Path
) -> None:
    key = bucket_key("orders")
    bucket_asset = defs.resolve_assets_def(key)
    assert bucket_asset.partitions_def.get_partition_keys() == [str(i) for i in range(BUCKETS)]
    assert bucket_asset.backfill_policy == dg.BackfillPolicy.multi_run(1)
    combined = defs.resolve_assets_def(table_keys("orders").reconciliation)
    assert combined.partitions_def is None
    assert key in combined.dependency_keys
    main = definitions_module(spec_path).MAIN_JOB
    assert key not in defs.resolve_job_def(main).asset_layer.selected_asset_keys
    assert defs.resolve_job_def(bucket_job_name("orders")).partitions_def is not None
    # The other tables keep their unpartitioned reconciliation.
    assert defs.resolve_assets_def(table_keys("customers").reconciliation).partitions_def is None
    undocumented = [
        spec.key.to_user_string()
        for spec in defs.resolve_all_asset_specs()
        if not spec.group_name or not (spec.description or "").strip()
    ]
    assert undocumented == []
    # The buckets and their combination carry the owners and engine tag of the table's other assets.
    unowned = [
        spec.key.to_user_string()
        for spec in defs.resolve_all_asset_specs()
        if spec.key != REPORT_KEY and (not spec.owners or ENGINE_TAG not in spec.tags)
    ]
    assert unowned == []


def test_combining_before_every_bucket_ran_fails_naming_the_missing_buckets(defs: Any) -> None:
    instance = dg.DagsterInstance.ephemeral()
    defs.resolve_job_def(bucket_job_name("orders")).execute_in_process(instance=instance, partition_key="2")
    result = _combine(defs, instance)
    assert not result.success
    message = _failure(result)
    assert "bucket(s) 0, 1, 3 of 4 have not been reconciled" in message
    assert "reconciliation_buckets/orders" in message


def test_buckets_cut_for_another_count_are_not_combined(
    defs: Any, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    for partition in ("0", "1"):
        defs.resolve_job_def(bucket_job_name("orders")).execute_in_process(
            instance=instance, partition_key=partition
        )
    # The spec now cuts orders in 2 buckets: the stored ones were cut in 4.
    halved = build(partitioned_spec(tmp_path / "halved", tmp_path_factory.getbasetemp(), buckets=2))
    message = _failure(_combine(halved, instance))
    assert "bucket(s) 0, 1 were reconciled with another number of buckets than the spec's 2" in message


def test_buckets_run_one_per_partition_and_combine_into_the_whole_tables_reconciliation(
    defs: Any, spec_path: Path
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    bucket_job = defs.resolve_job_def(bucket_job_name("orders"))
    logs: dict[str, list[str]] = {}
    for partition in map(str, range(BUCKETS)):
        run = bucket_job.execute_in_process(instance=instance, partition_key=partition)
        assert run.success
        logs[partition] = [
            e.message for e in instance.all_logs(run.run_id) if e.user_message and "bucket" in e.message
        ]
    keys = table_keys("orders")
    result = defs.resolve_job_def("migration_check").execute_in_process(
        instance=instance, asset_selection=[keys.reconciliation, keys.schema, keys.integrity, keys.verified],
        raise_on_error=False,
    )  # fmt: skip
    combined: TableReconciliation = result.asset_value(keys.reconciliation)
    assert combined.diff_path == str(Path(load_spec(spec_path).reports.directory) / "diffs" / "orders")
    whole = whole_table(spec_path, "orders")
    assert summary(combined) == summary(whole)
    assert (whole.extra_rows, whole.changed_rows) == (1, 2)  # the demo's seeded defects in orders
    # The verdict stands on the combined findings: the seeded defects fail its blocking checks.
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["rows_match"] is False and checks["values_match"] is False
    # Each bucket logged its progress against its share of the estimated rows.
    estimate = -(-whole.source_rows // BUCKETS)
    for partition, lines in logs.items():
        assert any(
            re.search(rf"orders bucket {partition} of 0\.\.3: source [\d,]+ / ~{estimate:,} rows", line)
            for line in lines
        ), lines
        assert any(f"orders bucket {partition} of 0..3: done" in line for line in lines), lines
    assert instance.get_materialized_partitions(bucket_key("orders")) == {str(i) for i in range(BUCKETS)}


# -- stale buckets, re-checks, reports and diff files -----------------------------------------------

MONITORING = """monitoring:
  drift: {interval: 30s}
  schedules:
    - {name: nightly, cron: "0 2 * * *", target: all}
"""


def _demo(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, *, buckets: int = BUCKETS, extra: str = ""
) -> DemoPaths:
    """A private demo whose spec cuts orders in ``buckets`` buckets (0: reconciled whole)."""
    paths = demo_copy(tmp_path_factory.getbasetemp(), tmp_path / "demo")
    _write_spec(paths, buckets=buckets, extra=extra)
    return paths


def _built_demo(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, *, extra: str = ""
) -> tuple[DemoPaths, Any, dg.DagsterInstance]:
    """A private demo cut in ``BUCKETS`` buckets, its definitions and an instance of its own."""
    paths = _demo(tmp_path, tmp_path_factory, extra=extra)
    return paths, build(paths.spec), dg.DagsterInstance.ephemeral()


def _combined_demo(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[DemoPaths, Any, dg.DagsterInstance]:
    """``_built_demo`` once every bucket was reconciled and the buckets combined."""
    paths, defs, instance = _built_demo(tmp_path, tmp_path_factory)
    _run_buckets(defs, instance, range(BUCKETS))
    assert _combine(defs, instance).success
    return paths, defs, instance


def _write_spec(paths: DemoPaths, *, buckets: int, orders: str = "", extra: str = "") -> None:
    text = demo_spec_text(paths)
    cut = f"    partitions: {buckets}\n" if buckets else ""
    paths.spec.write_text(
        text.replace("  - source: orders\n", f"  - source: orders\n{cut}{orders}") + extra, encoding="utf-8"
    )


def execute_request(defs: Any, instance: dg.DagsterInstance, request: dg.RunRequest) -> Any:
    """A run request executed as the daemon would launch it: its job, assets, partition and tags."""
    job = defs.resolve_job_def(request.job_name or "migration_check")
    return job.execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        asset_selection=request.asset_selection,
        tags=request.tags,
        raise_on_error=False,
    )


def test_buckets_reconciled_under_other_settings_are_refused_by_name(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    paths, defs, instance = _combined_demo(tmp_path, tmp_path_factory)
    # The spec now leaves a column out of the comparison: every stored bucket compared it.
    _write_spec(paths, buckets=BUCKETS, orders="    ignore: [note]\n")
    refused = _combine(defs, instance)
    assert not refused.success
    assert "orders: settings changed since buckets 0, 1, 2, 3 ran" in _failure(refused)
    _run_buckets(defs, instance, [1, 2])
    message = _failure(_combine(defs, instance))
    assert "settings changed since buckets 0, 3 ran" in message
    assert "partition(s) 0, 3 of reconciliation_buckets/orders again" in message
    _run_buckets(defs, instance, [0, 3])
    combined = _combine(defs, instance)
    assert combined.success
    value: TableReconciliation = combined.asset_value(table_keys("orders").reconciliation)
    assert summary(value) == summary(whole_table(paths.spec, "orders"))
    assert "note" not in {c.column for c in value.columns}
    # Settings that decide nothing a bucket finds leave the buckets usable: the count limits are
    # applied to the combined table.
    _write_spec(
        paths, buckets=BUCKETS, orders="    ignore: [note]\n", extra="thresholds: {max_extra_rows: 5}\n"
    )
    assert _combine(defs, instance).success


def test_a_recheck_that_did_not_reach_every_bucket_is_refused(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _, defs, instance = _combined_demo(tmp_path, tmp_path_factory)
    assert _combine(defs, instance).success  # the same buckets again: the same reconciliation
    _run_buckets(defs, instance, [0, 2])
    message = _failure(_combine(defs, instance))
    assert re.search(
        r"orders: buckets 1, 3 were already combined on \S+ while buckets 0, 2 were reconciled again "
        r"since: the table's re-check is incomplete; materialize partition\(s\) 1, 3 of "
        r"reconciliation_buckets/orders again",
        message,
    ), message
    _run_buckets(defs, instance, [1, 3])
    assert _combine(defs, instance).success


def test_the_report_is_written_when_a_partitioned_table_has_no_buckets(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    paths, defs, instance = _built_demo(tmp_path, tmp_path_factory)
    result = defs.resolve_job_def("migration_check").execute_in_process(
        instance=instance, raise_on_error=False
    )
    failed = {e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
    assert "reconciliation__orders" in failed and "reports__migration_report" not in failed
    (materialization,) = result.asset_materializations_for_node("reports__migration_report")
    assert materialization.metadata["verdict"].value == "not_ready"
    document = json.loads(
        (paths.directory / "reports" / "latest" / "findings.json").read_text(encoding="utf-8")
    )
    (orders,) = [f for f in document["findings"] if f["table"] == "orders" and f["check"] == "reconciliation"]
    assert orders["severity"] == "error"
    assert orders["message"].startswith("orders has not been reconciled: bucket(s) 0, 1, 2, 3 of 4 have not")
    assert "a backfill, or the job reconcile_orders_buckets" in orders["message"]
    # Every other table is reported with its counts, as without the partitioned one.
    tables = {t["table"]: t for t in document["tables"]}
    assert set(tables) == set(TABLES)
    assert tables["customers"]["counts"]["missing_rows"] == 3
    assert tables["orders"]["passed"] is False
    assert tables["orders"]["counts"]["source_rows"] == 0
    # Once the buckets are there, the report shows the combined table.
    _run_buckets(defs, instance, range(BUCKETS))
    rerun = defs.resolve_job_def("migration_check").execute_in_process(
        instance=instance, raise_on_error=False
    )
    assert "reconciliation__orders" not in {
        e.step_key for e in rerun.all_events if e.event_type_value == "STEP_FAILURE"
    }
    document = json.loads(
        (paths.directory / "reports" / "latest" / "findings.json").read_text(encoding="utf-8")
    )
    orders_table = next(t for t in document["tables"] if t["table"] == "orders")
    whole = whole_table(paths.spec, "orders")
    assert orders_table["counts"]["source_rows"] == whole.source_rows
    assert orders_table["counts"]["extra_rows"] == whole.extra_rows == 1


def _diff_rows(paths: DemoPaths, pattern: str) -> int:
    reports = paths.directory / "reports" / "diffs" / "orders"
    glob = str(reports / pattern).replace("'", "''")
    with duckdb.connect() as connection:
        row = connection.execute(f"SELECT count(*) FROM read_parquet('{glob}')").fetchone()
    assert row is not None
    return int(row[0])


def test_diff_files_of_another_bucket_count_or_a_whole_table_run_are_removed(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    paths = _demo(tmp_path, tmp_path_factory, buckets=0)
    folder = paths.directory / "reports" / "diffs" / "orders"
    instance = dg.DagsterInstance.ephemeral()
    whole = build(paths.spec).resolve_job_def("migration_check")
    assert whole.execute_in_process(
        instance=instance, asset_selection=[table_keys("orders").reconciliation]
    ).success
    assert (folder / "extra_rows.parquet").is_file()
    _write_spec(paths, buckets=BUCKETS)
    _run_buckets(build(paths.spec), instance, range(BUCKETS))
    _write_spec(paths, buckets=2)
    halved = build(paths.spec)
    _run_buckets(halved, instance, range(2))
    assert sorted(p.name for p in folder.iterdir()) == [
        "bucket=0", "bucket=1", "bucket=2", "bucket=3", "changed_cells.parquet", "extra_rows.parquet",
        "missing_rows.parquet",
    ]  # fmt: skip
    combined_run = _combine(halved, instance)
    assert combined_run.success
    combined: TableReconciliation = combined_run.asset_value(table_keys("orders").reconciliation)
    assert sorted(p.name for p in folder.iterdir()) == ["bucket=0", "bucket=1"]
    # The documented query reads this diff and nothing else.
    assert _diff_rows(paths, "bucket=*/orders/extra_rows.parquet") == combined.extra_rows == 1
    assert _diff_rows(paths, "**/extra_rows.parquet") == 1
    # Back to a whole-table run: the bucket folders go.
    _write_spec(paths, buckets=0)
    assert (
        build(paths.spec)
        .resolve_job_def("migration_check")
        .execute_in_process(instance=instance, asset_selection=[table_keys("orders").reconciliation])
        .success
    )
    assert not [p for p in folder.iterdir() if p.is_dir()]
    assert _diff_rows(paths, "**/extra_rows.parquet") == 1


def test_a_change_in_the_target_is_rechecked_bucket_by_bucket_and_combined(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The review's case: buckets backfilled and combined, then rows change in the target. The drift
    sensor requests every bucket of orders again, the bucket sensor combines them once they are all
    done, and the table's reconciliation shows the change."""
    paths, defs, instance = _built_demo(tmp_path, tmp_path_factory, extra=MONITORING)
    drift = defs.resolve_sensor_def("pm_drift_sensor")
    combine = defs.resolve_sensor_def("pm_bucket_runs")
    assert combine.default_status == dg.DefaultSensorStatus.RUNNING

    def tick(sensor: dg.SensorDefinition, cursor: str | None = None) -> Any:
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, definitions=defs, resources=defs.resources
        )
        return sensor.evaluate_tick(context)

    baseline = tick(drift)
    assert baseline.run_requests == []
    started = tick(combine)
    assert started.run_requests == []
    # A backfill of every bucket: the bucket sensor then asks for the combination, once.
    _run_buckets(defs, instance, range(BUCKETS))
    (first,) = tick(combine, started.cursor).run_requests
    assert first.job_name == "migration_check"
    assert set(first.asset_selection) >= {
        table_keys("orders").reconciliation, table_keys("orders").verified, dg.AssetKey(["reports", "migration_report"]),
    }  # fmt: skip
    before = execute_request(defs, instance, first).asset_value(table_keys("orders").reconciliation)
    assert not tick(combine, started.cursor).run_requests

    with duckdb.connect(str(paths.target)) as target:
        target.execute("UPDATE orders SET note = 'edited ' || id WHERE id <= 50")
        target.execute("DELETE FROM payments WHERE id = (SELECT max(id) FROM payments)")
    changed = tick(drift, baseline.cursor)
    # A table reconciled whole gets one run of its assets, as before.
    (payments,) = [r for r in changed.run_requests if r.tags["pm_pipeline/table"] == "payments"]
    keys = table_keys("payments")
    assert payments.job_name == "migration_check" and payments.partition_key is None
    assert payments.asset_selection == [keys.reconciliation, keys.schema, keys.integrity, keys.verified]
    requests = [r for r in changed.run_requests if r is not payments]
    assert [(r.job_name, r.partition_key, r.asset_selection) for r in requests] == [
        (bucket_job_name("orders"), str(i), [bucket_key("orders")]) for i in range(BUCKETS)
    ]
    assert {r.tags["pm_pipeline/table"] for r in requests} == {"orders"}
    assert len({r.run_key for r in requests}) == BUCKETS
    for request in requests[:-1]:
        assert execute_request(defs, instance, request).success
    # One bucket still to go: nothing to combine yet, and combining now is refused.
    skipped = tick(combine, started.cursor)
    assert not skipped.run_requests and "orders (3 of 4 buckets)" in (skipped.skip_message or "")
    assert "re-check is incomplete" in _failure(_combine(defs, instance))
    assert execute_request(defs, instance, requests[-1]).success
    (second,) = tick(combine, started.cursor).run_requests
    after = execute_request(defs, instance, second).asset_value(table_keys("orders").reconciliation)
    whole = whole_table(paths.spec, "orders")
    assert summary(after) == summary(whole)
    assert after.changed_rows > before.changed_rows
    assert not tick(combine, started.cursor).run_requests


def test_a_scheduled_recheck_runs_the_other_tables_then_every_bucket_then_the_combination(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    paths, defs, instance = _built_demo(tmp_path, tmp_path_factory, extra=MONITORING)
    schedule = defs.resolve_schedule_def("nightly")
    sensor = defs.resolve_sensor_def("pm_bucket_runs")
    keys = table_keys("orders")

    def tick(cursor: str | None) -> Any:
        return sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
        )

    started = tick(None)
    context = dg.build_schedule_context(instance=instance, repository_def=defs.get_repository_def())
    (tables,) = schedule.evaluate_tick(context).run_requests or []
    assert schedule.job_name == "migration_check"
    # The combination and verdict of orders wait for its buckets; everything else runs now.
    assert keys.reconciliation not in tables.asset_selection and keys.verified not in tables.asset_selection
    assert {keys.schema, keys.integrity, report_table_key("orders")} <= set(tables.asset_selection)
    assert {table_keys(t).reconciliation for t in TABLES if t != "orders"} <= set(tables.asset_selection)
    scheduled = execute_request(defs, instance, tables)
    assert scheduled.dagster_run.tags["pm_pipeline/trigger"] == "schedule:nightly"
    # The bucket sensor sees the scheduled run and requests every bucket of orders for it, once.
    after_schedule = tick(started.cursor)
    buckets = after_schedule.run_requests
    assert [(r.job_name, r.partition_key, r.asset_selection) for r in buckets] == [
        (bucket_job_name("orders"), str(i), [bucket_key("orders")]) for i in range(BUCKETS)
    ]
    assert {r.tags["pm_pipeline/trigger"] for r in buckets} == {"schedule:nightly"}
    assert tick(after_schedule.cursor).run_requests == []
    for request in buckets:
        assert execute_request(defs, instance, request).success
    (combination,) = tick(after_schedule.cursor).run_requests
    combined = execute_request(defs, instance, combination).asset_value(keys.reconciliation)
    assert summary(combined) == summary(whole_table(paths.spec, "orders"))
