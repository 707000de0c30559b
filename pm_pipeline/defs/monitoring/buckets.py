"""The sensor that re-checks partitioned tables bucket by bucket, then combines each one.

A schedule's run tagged ``pm_pipeline/recheck_buckets`` gets one run per bucket of every
partitioned table; a table whose every bucket has been reconciled again since its last
combination gets one run of its combination (and what is downstream of it). See
:mod:`pm_pipeline.defs.partitions` for the assets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

from pm_pipeline.core.config import TableMapping
from pm_pipeline.defs.common import TABLE_TAG, TableKeys
from pm_pipeline.defs.partitions import RECHECK_TAG, JobLike, bucket_key, report_table_key
from pm_pipeline.defs.tenancy import own_runs, tenant_name

BUCKET_SENSOR_NAME = "pm_bucket_runs"
_FETCH = 1000


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
