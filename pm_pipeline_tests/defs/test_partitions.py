"""A table the spec splits into key-hash buckets: a partitioned bucket asset and its own job, the main
job combining the buckets into the table's reconciliation (equal to a whole-table run), progress
logged per bucket, and a precise failure while buckets are missing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pm_pipeline.core.config import load_spec
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import TableReconciliation
from pm_pipeline.core.reconcile import ReconcileOptions, reconcile_table
from pm_pipeline.defs.partitions import bucket_job_name, bucket_key
from pm_pipeline.defs.tables import table_keys
from pm_pipeline_tests.test_definitions import build, definitions_module, demo_copy

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


def test_combining_before_every_bucket_ran_fails_naming_the_missing_buckets(defs: Any) -> None:
    instance = dg.DagsterInstance.ephemeral()
    defs.resolve_job_def(bucket_job_name("orders")).execute_in_process(instance=instance, partition_key="2")
    result = defs.resolve_job_def("migration_check").execute_in_process(
        instance=instance, asset_selection=[table_keys("orders").reconciliation], raise_on_error=False
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.message  # type: ignore[union-attr]
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
    result = halved.resolve_job_def("migration_check").execute_in_process(
        instance=instance, asset_selection=[table_keys("orders").reconciliation], raise_on_error=False
    )
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.message  # type: ignore[union-attr]
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
