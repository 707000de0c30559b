"""Large tables reconciled in key-hash buckets: a partitioned asset, one bucket per partition, and
the table's reconciliation combined from all of them.

``reconciliation_buckets/<table>`` has one partition per bucket ("0" .. "N-1"); each reconciles
only the rows whose canonical key hashes into its bucket (the filter is pushed into the
databases where they can hash keys), so the partitions are independent steps that a backfill
runs in parallel on any executor. ``reconciliation/<table>`` then combines every bucket into the
table's reconciliation, which the verdict reads as it reads any other table's.

Combining reads stored bucket results, never the databases, so it refuses results that no longer
describe the table as the spec defines it: missing buckets, buckets cut for another count,
buckets reconciled under other settings (each result carries a digest of them, see
``settings_digest``), and a half-done re-check (some buckets reconciled again since the previous
combination, others not). ``report_tables/<table>`` is what the report shows: the combination
when it is possible, otherwise the table marked as not reconciled with the reason, so that one
table's buckets never hold back the report of every table.

Re-checking a partitioned table means running its buckets again: the drift sensor requests one
run per bucket of a changed table; a schedule's run is tagged ``pm_pipeline/recheck_buckets`` and
the sensor ``pm_bucket_runs`` requests the buckets of every partitioned table for it; the same
sensor requests the combination once every bucket has been reconciled again since the last one.
"""

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import dagster as dg
from dagster import AssetExecutionContext

from pm_pipeline.core.config import MigrationSpec, TableMapping
from pm_pipeline.core.connectors import open_endpoint
from pm_pipeline.core.findings import Category, Finding, Severity, TableReconciliation, not_compared
from pm_pipeline.core.reconcile import ReconcileOptions, reconcile_table
from pm_pipeline.core.reconcile.combine import combine_partitions, settings_digest, slice_thresholds
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
from pm_pipeline.defs.tenancy import own_runs, tenant_key, tenant_name

JobLike: TypeAlias = "dg.JobDefinition | dg.UnresolvedAssetJobDefinition"
BUCKET_SENSOR_NAME = "pm_bucket_runs"
RECHECK_TAG = "pm_pipeline/recheck_buckets"  # on a run whose start re-checks every partitioned table
BUCKET_RUNS = "bucket_runs"  # the combination's metadata: each bucket's ran_at it combined
_FETCH = 1000


@dataclass(frozen=True)
class BucketReconciliation:
    """One bucket's reconciliation, with the bucketing it was cut by (the spec's count may change),
    when it ran (UTC, ISO 8601) and the digest of the settings it ran with. Results stored before
    ``ran_at`` and ``settings`` were recorded read them as ""."""

    bucket: int
    buckets: int
    result: TableReconciliation
    ran_at: str = ""
    settings: str = ""


def bucket_key(table: str) -> dg.AssetKey:
    return tenant_key("reconciliation_buckets", safe_name(table))


def report_table_key(table: str) -> dg.AssetKey:
    return tenant_key("report_tables", safe_name(table))


def bucket_job_name(table: str) -> str:
    return tenant_name(f"reconcile_{safe_name(table)}_buckets")


def buckets_definition(count: int) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition([str(index) for index in range(count)])


@dataclass(frozen=True)
class PartitionedTable:
    """What re-checking a partitioned table takes: one run of its bucket job per bucket, then a run
    of ``combine`` (the combination and everything downstream of it) once every bucket is done.
    ``held`` are the keys a run started together with the buckets must leave to that later run."""

    table: str
    count: int
    job: JobLike
    combine: tuple[dg.AssetKey, ...]
    held: tuple[dg.AssetKey, ...]

    @property
    def bucket_key(self) -> dg.AssetKey:
        return bucket_key(self.table)

    def bucket_requests(self, *, run_key: str, tags: Mapping[str, str]) -> list[dg.RunRequest]:
        """One run request of the bucket job per bucket, the bucket as partition key."""
        return [
            dg.RunRequest(
                run_key=f"{run_key}:bucket={index}",
                job_name=self.job.name,
                asset_selection=[self.bucket_key],
                partition_key=str(index),
                tags={**tags, TABLE_TAG: self.table},
            )
            for index in range(self.count)
        ]


def partitioned_table(
    mapping: TableMapping, keys: TableKeys, job: JobLike, *, report: dg.AssetKey
) -> PartitionedTable:
    return PartitionedTable(
        table=mapping.source,
        count=mapping.partitions or 0,
        job=job,
        combine=(
            keys.reconciliation,
            keys.schema,
            keys.integrity,
            keys.verified,
            report_table_key(mapping.source),
            report,
        ),
        held=(keys.reconciliation, keys.verified),
    )


class BucketsNotReady(Exception):
    """The stored buckets of a table cannot be combined into its reconciliation as the spec has it."""

    def __init__(
        self, table: str, problems: Sequence[str], *, missing: Sequence[str], stale: Sequence[str]
    ) -> None:
        super().__init__("\n".join(f"{table}: {problem}" for problem in problems))
        self.problems = tuple(problems)
        self.missing = tuple(missing)
        self.stale = tuple(stale)


@dataclass(frozen=True)
class PreviousCombination:
    """The table's last combination: when it was materialized and each bucket's ``ran_at`` it used."""

    at: str
    inputs: Mapping[str, str]


def _named(indices: Sequence[str]) -> str:
    return f"bucket {indices[0]}" if len(indices) == 1 else f"buckets {', '.join(indices)}"


def _was(indices: Sequence[str]) -> str:
    return "was" if len(indices) == 1 else "were"


def check_buckets(
    mapping: TableMapping,
    count: int,
    buckets: Mapping[str, BucketReconciliation],
    *,
    settings: str,
    previous: PreviousCombination | None,
) -> None:
    """Raise :class:`BucketsNotReady` naming every bucket that cannot be combined, and why."""
    asset = bucket_key(mapping.source).to_user_string()
    table = mapping.source
    problems: list[str] = []
    missing = [str(index) for index in range(count) if str(index) not in buckets]
    if missing:
        problems.append(
            f"bucket(s) {', '.join(missing)} of {count} have not been reconciled; "
            f"materialize every partition of {asset} first "
            f"(a backfill, or the job {bucket_job_name(table)})"
        )
    present = sorted(buckets, key=int)
    recut = [key for key in present if (buckets[key].bucket, buckets[key].buckets) != (int(key), count)]
    if recut:
        problems.append(
            f"bucket(s) {', '.join(recut)} were reconciled with another number of buckets "
            f"than the spec's {count}; materialize every partition of {asset} again"
        )
    cut = [key for key in present if key not in recut]
    unrecorded = [key for key in cut if not buckets[key].settings]
    if unrecorded:
        problems.append(
            f"{_named(unrecorded)} {_was(unrecorded)} reconciled by a version that did not record "
            f"its settings; materialize partition(s) {', '.join(unrecorded)} of {asset} again"
        )
    changed = [key for key in cut if buckets[key].settings and buckets[key].settings != settings]
    if changed:
        problems.append(
            f"settings changed since {_named(changed)} ran (the mapping, the tolerated "
            "categories, an endpoint or the clearance is not what the spec says now); materialize "
            f"partition(s) {', '.join(changed)} of {asset} again"
        )
    stale = recut + unrecorded + changed
    if not missing and not stale and previous is not None:
        # Not newer than what the previous combination used, while other buckets are: a re-check
        # that has not reached every bucket (still running, or some of its runs failed).
        reused = [
            key for key in present if key in previous.inputs and buckets[key].ran_at <= previous.inputs[key]
        ]
        again = [key for key in present if key not in reused]
        if reused and again:
            problems.append(
                f"{_named(reused)} {_was(reused)} already combined on {previous.at} while "
                f"{_named(again)} {_was(again)} reconciled again since: the table's re-check is "
                f"incomplete; materialize partition(s) {', '.join(reused)} of {asset} again"
            )
            stale += reused
    if problems:
        raise BucketsNotReady(table, problems, missing=missing, stale=sorted(set(stale), key=int))


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


def combine_buckets(
    spec: MigrationSpec,
    mapping: TableMapping,
    count: int,
    buckets: Mapping[str, BucketReconciliation],
    *,
    previous: PreviousCombination | None,
) -> TableReconciliation:
    """The table's reconciliation from its buckets, or :class:`BucketsNotReady`."""
    current = current_mapping(spec, mapping)
    check_buckets(current, count, buckets, settings=settings_digest(spec, current), previous=previous)
    parts = [buckets[str(index)] for index in range(count)]
    result = combine_partitions(
        [part.result for part in parts],
        thresholds=spec.thresholds,
        findings_limit=ReconcileOptions().findings_limit,
    )
    times = sorted(part.ran_at for part in parts)
    ran = f"{count} buckets reconciled between {times[0]} and {times[-1]}"
    note = f"{ran}; {result.strategy_note}" if result.strategy_note else ran
    return dataclasses.replace(result, strategy_note=note)


def not_reconciled(mapping: TableMapping, reason: str) -> TableReconciliation:
    finding = Finding(
        table=mapping.source,
        category=Category.TABLE_MISSING,
        severity=Severity.ERROR,
        message=f"{mapping.source} has not been reconciled: {reason}",
        check="reconciliation",
    )
    return not_compared(
        table=mapping.source,
        target_table=mapping.target_name,
        finding=finding,
        strategy="not reconciled",
        key_columns=tuple(mapping.key or ()),
        note=reason,
    )


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
        with open_endpoint(spec.source) as source, open_endpoint(spec.target) as target:
            expected = expected_rows_per_side(source=source, target=target, mapping=current, buckets=count)
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
            result = combine_buckets(spec, mapping, count, buckets, previous=previous)
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
            result: TableReconciliation = combine_buckets(spec, mapping, count, buckets, previous=previous)
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


def _buckets_done_since(
    instance: dg.DagsterInstance, key: dg.AssetKey, after_storage_id: int | None
) -> dict[str, int]:
    """Partition -> storage id of its latest materialization after ``after_storage_id``."""
    done: dict[str, int] = {}
    cursor = None
    while True:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after_storage_id),
            limit=_FETCH,
            cursor=cursor,
            ascending=True,
        )
        for record in result.records:
            if record.partition_key is not None:
                done[record.partition_key] = record.storage_id
        if not result.has_more:
            return done
        cursor = result.cursor


def _rechecks_since(
    instance: dg.DagsterInstance, after_run: str, mine: Mapping[str, str]
) -> list[dg.RunRecord]:
    """Runs tagged to re-check the buckets, created after the run ``after_run`` ("": every one)."""
    filters = dg.RunsFilter(tags={RECHECK_TAG: "true", **mine})
    return list(
        instance.get_run_records(filters=filters, limit=_FETCH, ascending=True, cursor=after_run or None)
    )


def build_bucket_sensor(
    tables: Sequence[PartitionedTable], *, job: JobLike, minimum_interval_seconds: int = 30
) -> dg.SensorDefinition:
    """The runs that re-checking a partitioned table takes after its buckets:

    - for every run of ``job`` tagged ``pm_pipeline/recheck_buckets`` (a schedule's) created since
      the sensor is on, one run per bucket of each table;
    - for each table whose every bucket has been materialized since its reconciliation last was
      (a backfill, or the bucket runs of the drift sensor and the schedules), one run of its
      ``combine`` keys. One request per such state of the buckets."""
    # Another tenant's re-checks share the instance: only this tenant's runs start bucket runs.
    mine = own_runs()

    @dg.sensor(
        name=tenant_name(BUCKET_SENSOR_NAME),
        jobs=[job, *(table.job for table in tables)],
        minimum_interval_seconds=minimum_interval_seconds,
        description=(
            "Reconciles the buckets of partitioned tables when a schedule re-checks the migration, and "
            "combines a table (and re-runs its verdict and the report) once every one of its buckets has "
            "been reconciled again since the table was last combined."
        ),
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def bucket_runs(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        instance = context.instance
        cursor = json.loads(context.cursor) if context.cursor else None
        if cursor is None:
            # Start from now: re-checks scheduled before the sensor was on are not replayed.
            latest = instance.get_run_records(
                filters=dg.RunsFilter(tags={RECHECK_TAG: "true", **mine}), limit=1
            )
            after_run = latest[0].dagster_run.run_id if latest else ""
            rechecks: list[dg.RunRecord] = []
        else:
            after_run = cursor["after_run"]
            rechecks = _rechecks_since(instance, after_run, mine)
        requests: list[dg.RunRequest] = []
        for record in rechecks:
            run = record.dagster_run
            trigger = run.tags.get("pm_pipeline/trigger", f"run {run.run_id}")
            for table in tables:
                requests += table.bucket_requests(
                    run_key=f"recheck:{run.run_id}:{table.table}", tags={"pm_pipeline/trigger": trigger}
                )
            after_run = run.run_id
        waiting: list[str] = []
        for table in tables:
            latest_combination = instance.fetch_materializations(table.combine[0], limit=1).records
            done = _buckets_done_since(
                instance, table.bucket_key, latest_combination[0].storage_id if latest_combination else None
            )
            expected = {str(index) for index in range(table.count)}
            if done and expected <= set(done):
                requests.append(
                    dg.RunRequest(
                        run_key=f"combine:{table.table}:{max(done.values())}",
                        job_name=job.name,
                        asset_selection=list(table.combine),
                        tags={TABLE_TAG: table.table, "pm_pipeline/trigger": "buckets"},
                    )
                )
            elif done:
                waiting.append(f"{table.table} ({len(expected & set(done))} of {table.count} buckets)")
        skip = None if requests else f"waiting for buckets: {', '.join(waiting)}" if waiting else None
        return dg.SensorResult(
            run_requests=requests, skip_reason=skip, cursor=json.dumps({"after_run": after_run})
        )

    return bucket_runs
