"""Schedules from the spec's cron strings, each running the job the caller maps its target to.

A table reconciled in key-hash buckets is re-checked by reconciling its buckets again, in runs of
its own bucket job (a schedule runs one job). With such tables, a schedule's run leaves out the
tables' combination and verdict (``held``: they wait for the buckets) and carries the tag
``pm_pipeline/recheck_buckets``, for which the sensor ``pm_bucket_runs`` requests one run per
bucket of every such table, then each table's combination once its buckets are done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeAlias

import dagster as dg

from pm_pipeline.core.config.monitoring import MonitoringSettings, ScheduleSettings, ScheduleTarget
from pm_pipeline.defs.monitoring.buckets import PartitionedTable
from pm_pipeline.defs.partitions import RECHECK_TAG
from pm_pipeline.defs.tenancy import tenant_name

JobLike: TypeAlias = "dg.JobDefinition | dg.UnresolvedAssetJobDefinition"
TRIGGER_TAG = "pm_pipeline/trigger"


def _recheck(
    entry: ScheduleSettings, job_keys: Sequence[dg.AssetKey], partitioned: Sequence[PartitionedTable]
) -> Callable[[dg.ScheduleEvaluationContext], dg.RunRequest]:
    held = {key for table in partitioned for key in table.held}
    selection = [key for key in job_keys if key not in held]
    tags = {TRIGGER_TAG: f"schedule:{entry.name}", RECHECK_TAG: "true"}

    def request(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(asset_selection=selection, tags=tags)

    return request


def build_schedules(
    settings: MonitoringSettings,
    *,
    jobs: Mapping[ScheduleTarget, JobLike],
    partitioned: Sequence[PartitionedTable] = (),
    job_keys: Sequence[dg.AssetKey] = (),
) -> list[dg.ScheduleDefinition]:
    """One schedule per ``monitoring.schedules`` entry; a target with no job is an error.

    With ``partitioned`` tables, each tick runs ``job_keys`` (the assets of the job) less every
    table's ``held`` keys, tagged for the sensor ``pm_bucket_runs`` to reconcile the buckets."""
    schedules: list[dg.ScheduleDefinition] = []
    for entry in settings.schedules:
        job = jobs.get(entry.target)
        if job is None:
            raise ValueError(
                f"monitoring.schedules: no job for target {entry.target!r} (schedule {entry.name!r})"
            )
        if partitioned:
            tables = ", ".join(table.table for table in partitioned)
            schedules.append(
                dg.ScheduleDefinition(
                    name=tenant_name(entry.name),
                    cron_schedule=entry.cron,
                    execution_timezone=entry.timezone,
                    job=job,
                    execution_fn=_recheck(entry, job_keys, partitioned),
                    description=(
                        f"Runs {job.name}; the sensor pm_bucket_runs reconciles every bucket of {tables} "
                        "for it and then combines them."
                    ),
                    default_status=dg.DefaultScheduleStatus.STOPPED,
                )
            )
            continue
        schedules.append(
            dg.ScheduleDefinition(
                name=tenant_name(entry.name),
                cron_schedule=entry.cron,
                execution_timezone=entry.timezone,
                job=job,
                tags={TRIGGER_TAG: f"schedule:{entry.name}"},
                default_status=dg.DefaultScheduleStatus.STOPPED,
            )
        )
    return schedules
