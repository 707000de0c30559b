"""Dagster side of monitoring: drift sensor, alert sensors and schedules built from the spec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg

from pm_pipeline.core.config.monitoring import MonitoringSettings, ScheduleTarget
from pm_pipeline.core.config.spec import MigrationSpec
from pm_pipeline.defs.monitoring.alerting import build_check_alert_sensor, build_run_alert_sensor
from pm_pipeline.defs.monitoring.buckets import PartitionedTable
from pm_pipeline.defs.monitoring.drift import build_drift_sensor
from pm_pipeline.defs.monitoring.history import read_metric_history
from pm_pipeline.defs.monitoring.schedules import JobLike, build_schedules


def build_monitoring_defs(
    spec: MigrationSpec,
    settings: MonitoringSettings,
    *,
    table_assets: Mapping[str, dg.AssetKey],
    jobs: Mapping[ScheduleTarget, JobLike] | None = None,
    drift_selection: Mapping[str, Sequence[dg.AssetKey]] | None = None,
    partitioned: Sequence[PartitionedTable] = (),
    check_job: JobLike | None = None,
    check_keys: Sequence[dg.AssetKey] = (),
    performance_asset: dg.AssetKey | None = None,
) -> list[dg.SensorDefinition | dg.ScheduleDefinition]:
    """Sensors and schedules for ``Definitions(sensors=..., schedules=...)``.

    ``table_assets`` maps each source table to the asset that reconciles it (the drift sensor
    requests it; the check sensor reads its checks and metric metadata). ``jobs`` maps schedule
    targets ("reconcile", "integrity", "reports", "all") to jobs. ``drift_selection`` (table -> keys)
    lets a drift run materialize several assets of the table, e.g. its diff and its verdict.

    Tables reconciled in key-hash buckets (``partitioned``) are re-checked by running their
    buckets: the drift sensor then runs the other tables through ``check_job``, and a schedule's
    run covers ``check_keys`` (the assets of the scheduled job) less the tables' combination and
    verdict, tagged for the sensor ``pm_bucket_runs`` (``partitions.build_bucket_sensor``), which
    runs the buckets and then combines them.

    ``performance_asset``, the workload's asset when the spec has one, feeds each query's latency
    history to the alert rules and the anomaly detector (subjects ``performance/<query>``).
    """
    built: list[dg.SensorDefinition | dg.ScheduleDefinition] = []
    if partitioned and check_job is None:
        raise ValueError("build_monitoring_defs needs check_job when tables are reconciled in buckets")
    if settings.drift.enabled:
        built.append(
            build_drift_sensor(
                spec,
                settings,
                table_assets=drift_selection or table_assets,
                job=check_job if partitioned else None,
                partitioned={table.table: table for table in partitioned},
            )
        )
    built.append(build_run_alert_sensor(spec, settings))
    built.append(
        build_check_alert_sensor(
            spec, settings, table_assets=table_assets, performance_asset=performance_asset
        )
    )
    built += build_schedules(settings, jobs=jobs or {}, partitioned=partitioned, job_keys=check_keys)
    return built


__all__ = ["build_monitoring_defs", "read_metric_history"]
