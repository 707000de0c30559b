"""Large tables reconciled in key-hash buckets: a partitioned asset, one bucket per partition, and
the table's reconciliation combined from all of them.

``reconciliation_buckets/<table>`` has one partition per bucket ("0" .. "N-1"); each reconciles
only the rows whose canonical key hashes into its bucket (the filter is pushed into the
databases where they can hash keys), so the partitions are independent steps that a backfill
runs in parallel on any executor. ``reconciliation/<table>`` then combines every bucket into the
table's reconciliation, which the verdict and the reports read as they read any other table's.
"""

from dataclasses import dataclass

import dagster as dg
from dagster import AssetExecutionContext

from pm_pipeline.core.config import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import TableReconciliation
from pm_pipeline.core.reconcile import ReconcileOptions, reconcile_table
from pm_pipeline.core.reconcile.combine import combine_partitions, slice_thresholds
from pm_pipeline.core.report import redactor_for
from pm_pipeline.defs.common import TABLE_TAG, TableKeys, current_mapping, safe_name, table_metadata
from pm_pipeline.defs.progress import ProgressLog, expected_per_side
from pm_pipeline.defs.resources import MigrationResource


@dataclass(frozen=True)
class BucketReconciliation:
    """One bucket's reconciliation, with the bucketing it was cut by (the spec's count may change)."""

    bucket: int
    buckets: int
    result: TableReconciliation


def bucket_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["reconciliation_buckets", safe_name(table)])


def bucket_job_name(table: str) -> str:
    return f"reconcile_{safe_name(table)}_buckets"


def buckets_definition(count: int) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition([str(index) for index in range(count)])


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
        with connect(spec.source.url) as source, connect(spec.target.url) as target:
            expected = expected_per_side(
                source, target, source_table=current.source, target_table=current.target_name, buckets=count
            )
            progress = ProgressLog(label, expected, context.log.info)
            context.log.info(progress.message())
            result = reconcile_table(
                source=source,
                target=target,
                mapping=current,
                source_endpoint=spec.source,
                target_endpoint=spec.target,
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
        metadata = {**table_metadata(result, redactor_for(spec)), "bucket": dg.MetadataValue.int(index)}
        return dg.Output(BucketReconciliation(bucket=index, buckets=count, result=result), metadata=metadata)

    return _bucket


def _combined_asset(mapping: TableMapping, keys: TableKeys, count: int) -> dg.AssetsDefinition:
    source_key = bucket_key(mapping.source)

    @dg.asset(
        key=keys.reconciliation,
        # Buckets not yet reconciled are reported by name, not as an unreadable input.
        ins={"buckets": dg.AssetIn(key=source_key, metadata={"allow_missing_partitions": True})},
        group_name="reconciliation",
        kinds={"python"},
        tags={TABLE_TAG: safe_name(mapping.source)},
        description=(
            f"Row- and column-level diff of {mapping.source} against {mapping.target_name}, combined from its "
            f"{count} key-hash buckets: counts, column statistics and findings as a whole-table run reports them."
        ),
    )
    def _combine(
        context: AssetExecutionContext, migration: MigrationResource, buckets: dict[str, BucketReconciliation]
    ) -> dg.Output[TableReconciliation]:
        missing = [str(index) for index in range(count) if str(index) not in buckets]
        if missing:
            raise dg.Failure(
                description=(
                    f"{mapping.source}: bucket(s) {', '.join(missing)} of {count} have not been reconciled; "
                    f"materialize every partition of {source_key.to_user_string()} first "
                    f"(a backfill, or the job {bucket_job_name(mapping.source)})"
                ),
                metadata={"missing_buckets": dg.MetadataValue.json(missing)},
            )
        stale = [
            key for key, part in sorted(buckets.items()) if (part.bucket, part.buckets) != (int(key), count)
        ]
        if stale:
            raise dg.Failure(
                description=(
                    f"{mapping.source}: bucket(s) {', '.join(stale)} were reconciled with another number of buckets "
                    f"than the spec's {count}; materialize every partition of {source_key.to_user_string()} again"
                ),
            )
        spec = migration.spec()
        parts = [buckets[str(index)].result for index in range(count)]
        result = combine_partitions(parts, thresholds=spec.thresholds)
        context.log.info(
            f"{mapping.source}: {count} buckets combined: {result.missing_rows} missing, {result.extra_rows} extra, "
            f"{result.changed_rows} changed, match score {result.match_score:.4%}"
        )
        metadata = {**table_metadata(result, redactor_for(spec)), "buckets": dg.MetadataValue.int(count)}
        return dg.Output(result, metadata=metadata)

    return _combine


def build_bucket_assets(
    mapping: TableMapping, keys: TableKeys, engines: tuple[str, str], count: int
) -> list[dg.AssetsDefinition]:
    """The partitioned bucket asset and the table's reconciliation combined from it."""
    return [_bucket_asset(mapping, keys, engines, count), _combined_asset(mapping, keys, count)]


def build_bucket_job(mapping: TableMapping, count: int) -> "dg.UnresolvedAssetJobDefinition":
    """A partitioned job over the table's buckets (for `dagster job backfill` and schedules)."""
    return dg.define_asset_job(
        bucket_job_name(mapping.source),
        selection=[bucket_key(mapping.source)],
        partitions_def=buckets_definition(count),
        description=f"Reconcile one key-hash bucket of {mapping.source} per run.",
    )
