"""Large tables reconciled in key-hash buckets: a partitioned asset, one bucket per partition, and
the table's reconciliation combined from all of them.

``reconciliation_buckets/<table>`` has one partition per bucket ("0" .. "N-1"); each reconciles
only the rows whose canonical key hashes into its bucket (the filter is pushed into the
databases where they can hash keys), so the partitions are independent steps that a backfill
runs in parallel on any executor. ``reconciliation/<table>`` then combines every bucket into the
table's reconciliation, which the verdict reads as it reads any other table's.

Combining reads stored bucket results, never the databases, and refuses results that no longer
describe the table as the spec defines it (:mod:`pm_pipeline.core.reconcile.readiness`).
``report_tables/<table>`` is what the report shows: the combination when it is possible,
otherwise the table marked as not reconciled with the reason, so that one table's buckets never
hold back the report of every table. Re-checks: :mod:`pm_pipeline.defs.monitoring.buckets`.
"""

import datetime as dt
from collections.abc import Mapping
from typing import TypeAlias

import dagster as dg
from dagster import AssetExecutionContext

from pm_pipeline.core.check import TablePair, reconcile
from pm_pipeline.core.config import TableMapping
from pm_pipeline.core.findings import TableReconciliation
from pm_pipeline.core.reconcile import ReconcileOptions
from pm_pipeline.core.reconcile.combine import settings_digest, slice_thresholds

# Stored bucket results are pickled under this module's name: the class stays reachable here.
from pm_pipeline.core.reconcile.readiness import (
    BucketNames,
    BucketReconciliation,
    BucketsNotReady,
    PreviousCombination,
    combine_buckets,
    not_reconciled,
)
from pm_pipeline.core.report import redactor_for
from pm_pipeline.core.run import expected_rows_per_side
from pm_pipeline.defs.common import (
    TABLE_TAG,
    TableKeys,
    current_mapping,
    remove_stale_diffs,
    safe_name,
    stored,
    table_metadata,
)
from pm_pipeline.defs.progress import ProgressLog
from pm_pipeline.defs.resources import MigrationResource
from pm_pipeline.defs.tenancy import tenant_key, tenant_name

JobLike: TypeAlias = "dg.JobDefinition | dg.UnresolvedAssetJobDefinition"
RECHECK_TAG = "pm_pipeline/recheck_buckets"  # on a run whose start re-checks every partitioned table
BUCKET_RUNS = "bucket_runs"  # the combination's metadata: each bucket's ran_at it combined


def bucket_key(table: str) -> dg.AssetKey:
    return tenant_key("reconciliation_buckets", safe_name(table))


def report_table_key(table: str) -> dg.AssetKey:
    return tenant_key("report_tables", safe_name(table))


def bucket_job_name(table: str) -> str:
    return tenant_name(f"reconcile_{safe_name(table)}_buckets")


def _names(mapping: TableMapping) -> BucketNames:
    return BucketNames(asset=bucket_key(mapping.source).to_user_string(), job=bucket_job_name(mapping.source))


def buckets_definition(count: int) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition([str(index) for index in range(count)])


def previous_combination(instance: dg.DagsterInstance, key: dg.AssetKey) -> PreviousCombination | None:
    """The inputs of the latest materialization of ``key``, if it recorded them."""
    event = instance.get_latest_materialization_event(key)
    materialization = None if event is None else event.asset_materialization
    if event is None or materialization is None:
        return None
    entry = materialization.metadata.get(BUCKET_RUNS)
    inputs = entry.value if isinstance(entry, dg.MetadataValue) else entry
    if not isinstance(inputs, dict):
        return None
    at = dt.datetime.fromtimestamp(event.timestamp, dt.UTC).isoformat(timespec="seconds")
    return PreviousCombination(at=at, inputs={str(k): str(v) for k, v in inputs.items()})


def _bucket_asset(
    mapping: TableMapping, keys: TableKeys, engines: tuple[str, str], count: int
) -> dg.AssetsDefinition:
    @dg.asset(
        key=bucket_key(mapping.source),
        deps=[keys.source, keys.target],
        partitions_def=buckets_definition(count),
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
        group_name="reconciliation",
        kinds={"duckdb", *engines},
        tags={TABLE_TAG: safe_name(mapping.source)},
        description=(
            f"One of {count} key-hash buckets of {mapping.source}: the rows whose canonical key hashes into the "
            "bucket, reconciled on both sides. Backfill every partition, then materialize "
            f"reconciliation/{safe_name(mapping.source)}."
        ),
    )
    def _bucket(
        context: AssetExecutionContext, migration: MigrationResource
    ) -> dg.Output[BucketReconciliation]:
        index = int(context.partition_key)
        spec = migration.spec()
        current = current_mapping(spec, mapping)
        label = f"{mapping.source} bucket {index} of 0..{count - 1}"
        diff_dir = migration.reports_directory() / "diffs" / mapping.source / f"bucket={index}"
        ran_at = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        with migration.connections(spec) as (source, target):
            expected = expected_rows_per_side(source=source, target=target, mapping=current, buckets=count)
            progress = ProgressLog(label, expected, context.log.info)
            context.log.info(progress.message())
            result = reconcile(
                TablePair.build(source=source, target=target, mapping=current, spec=spec),
                options=ReconcileOptions(
                    thresholds=slice_thresholds(spec.thresholds),
                    # The combined table keeps no more findings in memory than a whole-table run.
                    findings_limit=-(-ReconcileOptions().findings_limit // count),
                    diff_dir=diff_dir,
                    redactor=redactor_for(spec),
                    partition=(index, count),
                ),
                progress=progress,
            )
        context.log.info(progress.finished(result))
        metadata = {
            **table_metadata(result, redactor_for(spec)),
            "bucket": dg.MetadataValue.int(index),
            "ran_at": ran_at,
        }
        bucket = BucketReconciliation(
            bucket=index,
            buckets=count,
            result=stored(result, spec),
            ran_at=ran_at,
            settings=settings_digest(spec, current),
        )
        return dg.Output(bucket, metadata=metadata)

    return _bucket


def _buckets_in(source_key: dg.AssetKey) -> dict[str, dg.AssetIn]:
    # Buckets not yet reconciled are reported by name, not as an unreadable input.
    return {"buckets": dg.AssetIn(key=source_key, metadata={"allow_missing_partitions": True})}


def _combined_asset(mapping: TableMapping, keys: TableKeys, count: int) -> dg.AssetsDefinition:
    @dg.asset(
        key=keys.reconciliation,
        ins=_buckets_in(bucket_key(mapping.source)),
        group_name="reconciliation",
        kinds={"python"},
        tags={TABLE_TAG: safe_name(mapping.source)},
        description=(
            f"Row- and column-level diff of {mapping.source} against {mapping.target_name}, combined from its "
            f"{count} key-hash buckets: counts, column statistics and findings as a whole-table run reports them. "
            "Fails, naming them, while buckets are missing or stale."
        ),
    )
    def _combine(
        context: AssetExecutionContext, migration: MigrationResource, buckets: dict[str, BucketReconciliation]
    ) -> dg.Output[TableReconciliation]:
        spec = migration.spec()
        previous = previous_combination(context.instance, keys.reconciliation)
        try:
            result = combine_buckets(
                spec, current_mapping(spec, mapping), count, buckets, previous=previous, names=_names(mapping)
            )
        except BucketsNotReady as exc:
            raise dg.Failure(
                description=str(exc),
                metadata={
                    "missing_buckets": dg.MetadataValue.json(list(exc.missing)),
                    "stale_buckets": dg.MetadataValue.json(list(exc.stale)),
                },
            ) from None
        removed = remove_stale_diffs(migration.reports_directory() / "diffs" / mapping.source, buckets=count)
        for path in removed:
            context.log.info(f"{mapping.source}: removed {path}, which is no longer part of the table's diff")
        context.log.info(
            f"{mapping.source}: {count} buckets combined: {result.missing_rows} missing, {result.extra_rows} extra, "
            f"{result.changed_rows} changed, match score {result.match_score:.4%} ({result.strategy_note})"
        )
        runs = {str(index): buckets[str(index)].ran_at for index in range(count)}
        metadata = {
            **table_metadata(result, redactor_for(spec)),
            "buckets": dg.MetadataValue.int(count),
            BUCKET_RUNS: dg.MetadataValue.json(runs),
        }
        return dg.Output(result, metadata=metadata)

    return _combine


def _report_table_asset(mapping: TableMapping, keys: TableKeys, count: int) -> dg.AssetsDefinition:
    @dg.asset(
        key=report_table_key(mapping.source),
        ins=_buckets_in(bucket_key(mapping.source)),
        group_name="reports",
        kinds={"python"},
        tags={TABLE_TAG: safe_name(mapping.source)},
        description=(
            f"{mapping.source} as reports/migration_report shows it: its {count} buckets combined when they can "
            "be, otherwise the table marked as not reconciled with the reason (missing or stale buckets, and "
            "how to reconcile them). Never fails, so one table's buckets do not hold back the report."
        ),
    )
    def _report_table(
        context: AssetExecutionContext, migration: MigrationResource, buckets: dict[str, BucketReconciliation]
    ) -> dg.Output[TableReconciliation]:
        spec = migration.spec()
        previous = previous_combination(context.instance, keys.reconciliation)
        try:
            result: TableReconciliation = combine_buckets(
                spec, current_mapping(spec, mapping), count, buckets, previous=previous, names=_names(mapping)
            )
            reconciled = True
        except BucketsNotReady as exc:
            context.log.warning(str(exc))
            result = not_reconciled(current_mapping(spec, mapping), "; ".join(exc.problems))
            reconciled = False
        metadata = {**table_metadata(result, redactor_for(spec)), "reconciled": reconciled}
        return dg.Output(result, metadata=metadata)

    return _report_table


def build_bucket_assets(
    mapping: TableMapping, keys: TableKeys, engines: tuple[str, str], count: int
) -> list[dg.AssetsDefinition]:
    """The partitioned bucket asset, the table's reconciliation combined from it, and the table as
    the report shows it."""
    return [
        _bucket_asset(mapping, keys, engines, count),
        _combined_asset(mapping, keys, count),
        _report_table_asset(mapping, keys, count),
    ]


def build_bucket_job(
    mapping: TableMapping, count: int, *, tags: Mapping[str, str] | None = None
) -> "dg.UnresolvedAssetJobDefinition":
    """A partitioned job over the table's buckets (for `dagster job backfill` and schedules); ``tags``
    go on its runs (the tenant's and source's, which the run queue limits)."""
    return dg.define_asset_job(
        bucket_job_name(mapping.source),
        selection=[bucket_key(mapping.source)],
        partitions_def=buckets_definition(count),
        description=f"Reconcile one key-hash bucket of {mapping.source} per run.",
        tags=dict(tags or {}),
    )
