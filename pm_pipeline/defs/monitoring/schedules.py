"""Schedules from the spec's cron strings, each running the job the caller maps its target to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

import dagster as dg

from pm_pipeline.core.monitor.settings import MonitoringSettings, ScheduleTarget

JobLike: TypeAlias = "dg.JobDefinition | dg.UnresolvedAssetJobDefinition"


def build_schedules(
    settings: MonitoringSettings, *, jobs: Mapping[ScheduleTarget, JobLike]
) -> list[dg.ScheduleDefinition]:
    """One schedule per ``monitoring.schedules`` entry; a target with no job is an error."""
    schedules: list[dg.ScheduleDefinition] = []
    for entry in settings.schedules:
        job = jobs.get(entry.target)
        if job is None:
            raise ValueError(
                f"monitoring.schedules: no job for target {entry.target!r} (schedule {entry.name!r})"
            )
        schedules.append(
            dg.ScheduleDefinition(
                name=entry.name,
                cron_schedule=entry.cron,
                execution_timezone=entry.timezone,
                job=job,
                tags={"pm_pipeline/trigger": f"schedule:{entry.name}"},
                default_status=dg.DefaultScheduleStatus.STOPPED,
            )
        )
    return schedules
