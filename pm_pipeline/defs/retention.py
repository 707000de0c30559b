"""Months of running: a job and a daily schedule that delete finished runs older than a configurable
age from the Dagster instance (their event-log rows and captured logs go with them), so run and
event storage stop growing without bound. Runs still needed are kept, whatever their age: those
holding the materializations the anomaly detection reads back as metric history, and the latest
materialization of every asset and partition (what the UI and the bucket combination stand on).
"""

import contextlib
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

from pm_pipeline.defs.tenancy import owns_run, tenant_name, tenant_prefix

RETENTION_JOB = "pm_retention"
RETENTION_SCHEDULE = "pm_retention_daily"
DEFAULT_MAX_AGE_DAYS = 90
DAYS_VARIABLE = "PM_RETENTION_DAYS"
_FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
_BATCH = 500


@dataclass(frozen=True)
class RunAge:
    run_id: str
    updated_at: dt.datetime


@dataclass(frozen=True)
class Pruning:
    deleted: tuple[str, ...]
    kept_for_history: int


def prunable(runs: Iterable[RunAge], *, keep: set[str], cutoff: dt.datetime) -> list[str]:
    """Runs last updated before ``cutoff`` and not in ``keep``, oldest first."""
    old = sorted((r for r in runs if r.updated_at < cutoff), key=lambda r: (r.updated_at, r.run_id))
    return [r.run_id for r in old if r.run_id not in keep]


def max_age_from_environment(environ: Mapping[str, str]) -> int:
    """The schedule's age limit in days (``PM_RETENTION_DAYS``, default 90)."""
    raw = environ.get(DAYS_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_MAX_AGE_DAYS
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{DAYS_VARIABLE}={raw!r}: expected a whole number of days, at least 1")
    return int(raw)


def runs_to_keep(instance: dg.DagsterInstance, *, history: int) -> set[str]:
    """The runs holding the last ``history`` materializations of every asset, and the latest
    materialization of every partition of a partitioned asset."""
    keep: set[str] = set()
    for key in instance.get_asset_keys():
        records = instance.fetch_materializations(key, limit=history).records
        keep.update(record.run_id for record in records)
        for partition in sorted(instance.get_materialized_partitions(key)):
            latest = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
            ).records
            keep.update(record.run_id for record in latest)
    return keep


def _aware(moment: dt.datetime) -> dt.datetime:
    # Storages differ: some hand back naive UTC timestamps.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _old_runs(instance: dg.DagsterInstance, cutoff: dt.datetime, *, tenant: str | None) -> list[RunAge]:
    found: list[RunAge] = []
    cursor: str | None = None
    while True:
        batch = instance.get_run_records(
            filters=dg.RunsFilter(statuses=_FINISHED, updated_before=cutoff), limit=_BATCH, cursor=cursor
        )
        found += [
            RunAge(r.dagster_run.run_id, _aware(r.update_timestamp))
            for r in batch
            if owns_run(r.dagster_run, prefix=tenant)
        ]
        if len(batch) < _BATCH:
            return found
        cursor = batch[-1].dagster_run.run_id


def prune_runs(
    instance: dg.DagsterInstance,
    *,
    max_age_days: int,
    history: int,
    now: dt.datetime | None = None,
    tenant: str | None = None,
) -> Pruning:
    """Delete the finished runs older than ``max_age_days`` that no metric history or latest
    materialization needs, with their event-log rows and captured logs. With ``tenant`` (its key
    prefix), only that tenant's runs: another tenant's location prunes its own."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=max_age_days)
    candidates = _old_runs(instance, cutoff, tenant=tenant)
    keep = runs_to_keep(instance, history=history)
    deleted = prunable(candidates, keep=keep, cutoff=cutoff)
    for run_id in deleted:
        instance.delete_run(run_id)
        # A log manager that cannot delete keeps its files; the storage rows are gone all the same.
        with contextlib.suppress(NotImplementedError):
            instance.compute_log_manager.delete_logs(prefix=[run_id])
    return Pruning(deleted=tuple(deleted), kept_for_history=len(candidates) - len(deleted))


class RetentionConfig(dg.Config):
    max_age_days: int = DEFAULT_MAX_AGE_DAYS
    """Finished runs last updated longer ago than this are deleted (unless still needed)."""


def build_retention_defs(
    *, history: int, max_age_days: int
) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    """The retention job and its daily schedule. ``history`` is how many materializations of each
    asset are kept whatever their age: the anomaly detection's window and the one it judges."""
    tenant = tenant_prefix()

    @dg.op(
        name="prune_old_runs",
        description=(
            f"Deletes finished runs older than max_age_days with their event-log rows and logs; keeps the "
            f"last {history} materializations of every asset (the metric history) and the latest of each "
            "partition."
        ),
    )
    def prune_old_runs(context: dg.OpExecutionContext, config: RetentionConfig) -> None:
        if config.max_age_days < 1:
            raise dg.Failure(f"max_age_days={config.max_age_days}: expected at least 1 day")
        result = prune_runs(
            context.instance, max_age_days=config.max_age_days, history=history, tenant=tenant
        )
        context.log.info(
            f"deleted {len(result.deleted)} run(s) older than {config.max_age_days} days; kept "
            f"{result.kept_for_history} old run(s) that hold metric history or a latest materialization"
        )

    @dg.job(
        name=tenant_name(RETENTION_JOB),
        description="Keeps the instance small over months: prunes old runs and their event-log rows.",
        config=dg.RunConfig(ops={"prune_old_runs": RetentionConfig(max_age_days=max_age_days)}),
    )
    def retention_job() -> None:
        prune_old_runs()

    schedule = dg.ScheduleDefinition(
        name=tenant_name(RETENTION_SCHEDULE),
        job=retention_job,
        cron_schedule="30 3 * * *",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Daily at 03:30: prunes runs older than {max_age_days} days ({DAYS_VARIABLE}).",
    )
    return retention_job, schedule


def retention_defs_from_environment(
    environ: Mapping[str, str], *, history: int
) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    return build_retention_defs(history=history, max_age_days=max_age_from_environment(environ))


__all__: Sequence[str] = (
    "RETENTION_JOB",
    "RETENTION_SCHEDULE",
    "build_retention_defs",
    "prunable",
    "prune_runs",
    "retention_defs_from_environment",
)
