"""The code location's entry point: assets, checks, jobs, sensors and schedules built from one spec.

The spec is the file named by PM_SPEC; without it, the embedded demo (built on first use in
PM_DEMO_DIR, default ./demo_output).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import dagster as dg

from pm_pipeline.core.config import MigrationSpec, load_spec
from pm_pipeline.core.rollback.snapshot import NoSnapshotError
from pm_pipeline.core.run import select_tables
from pm_pipeline.defs.assets.performance import build_performance_defs, performance_key
from pm_pipeline.defs.assets.reports import build_report_asset, report_key
from pm_pipeline.defs.assets.tables import build_table_assets
from pm_pipeline.defs.executors import executor_from_environment
from pm_pipeline.defs.monitoring import build_monitoring_defs
from pm_pipeline.defs.monitoring.buckets import build_bucket_sensor, partitioned_table
from pm_pipeline.defs.partitions import (
    bucket_key,
    build_bucket_job,
    report_table_key,
)
from pm_pipeline.defs.presentation import owners
from pm_pipeline.defs.resources import MigrationResource
from pm_pipeline.defs.retention import retention_defs_from_environment
from pm_pipeline.defs.rollback import ROLLBACK_JOB_NAME, build_rollback_job
from pm_pipeline.defs.tenancy import tenant_name, tenant_tags

MAIN_JOB = "migration_check"
CHECK_GROUPS = ("reconciliation", "integrity", "verification", "reports")

# Observable source assets are the documented way to observe tables we do not produce.
warnings.filterwarnings("ignore", category=dg.BetaWarning)


def spec_path_from_environment() -> Path:
    configured = os.environ.get("PM_SPEC")
    if configured:
        return Path(configured).resolve()
    from pm_pipeline.demo.generate import build_demo, demo_paths

    directory = Path(os.environ.get("PM_DEMO_DIR", "demo_output")).resolve()
    paths = demo_paths(directory)
    if not paths.spec.exists():
        build_demo(directory)
    return paths.spec


# A code location that waits long for a reader slot of the source fails to load: it waits 20 s at most.
LOAD_READERS_WAIT = 20.0


def _mappings(spec: MigrationSpec, migration: MigrationResource) -> list:  # type: ignore[type-arg]
    if not spec.discover:
        return list(spec.tables)
    # Discovered tables become assets, so the databases are asked which tables they share, through
    # the resource the runs get, used here outside any run while the code location loads.
    with migration.connections(spec, readers_wait=LOAD_READERS_WAIT) as (source, target):
        return list(select_tables(spec, source=source, target=target).mappings)


def build_definitions(spec_path: Path) -> dg.Definitions:
    spec = load_spec(spec_path)
    migration = MigrationResource(spec_path=str(spec_path))
    mappings = _mappings(spec, migration)
    table_assets, keys = build_table_assets(spec, mappings)
    # Buckets run as partitions (a backfill, or their own job); the main job combines them.
    partitioned = [m for m in mappings if m.partitions]
    bucket_keys = {bucket_key(m.source) for m in partitioned}
    # The report shows a partitioned table as it stands (combined, or not reconciled and why).
    report = build_report_asset(
        [
            dataclasses.replace(k, reconciliation=report_table_key(k.table))
            if bucket_key(k.table) in bucket_keys
            else k
            for k in keys
        ],
        owners=owners(spec),
    )
    check_selection = dg.AssetSelection.groups(*CHECK_GROUPS) - dg.AssetSelection.assets(*bucket_keys)
    main_job = dg.define_asset_job(
        tenant_name(MAIN_JOB),
        selection=check_selection,
        description="Reconcile every mapped table, check schemas, verify against the thresholds, write the reports.",
        tags=tenant_tags(spec),
    )
    check_keys = [
        asset_spec.key
        for assets_def in [*table_assets, report]
        if isinstance(assets_def, dg.AssetsDefinition)
        for asset_spec in assets_def.specs
        if asset_spec.group_name in CHECK_GROUPS and asset_spec.key not in bucket_keys
    ]
    bucket_jobs = {
        m.source: build_bucket_job(m, m.partitions or 0, tags=tenant_tags(spec)) for m in partitioned
    }
    keys_of = {k.table: k for k in keys}
    bucketed = [
        partitioned_table(m, keys_of[m.source], bucket_jobs[m.source], report=report_key())
        for m in partitioned
    ]
    jobs = {"reconcile": main_job, "all": main_job, "reports": main_job, "integrity": main_job}
    settings = spec.monitoring
    # The anomaly detector reads a window of earlier values plus the one it judges: those stay.
    retention_job, retention_schedule = retention_defs_from_environment(
        os.environ, history=settings.anomaly.window + 1
    )
    monitoring = build_monitoring_defs(
        spec,
        settings,
        table_assets={k.table: k.verified for k in keys},
        jobs=jobs,  # type: ignore[arg-type]
        drift_selection={k.table: [k.reconciliation, k.schema, k.integrity, k.verified] for k in keys},
        partitioned=bucketed,
        check_job=main_job,
        check_keys=check_keys,
        performance_asset=performance_key() if spec.performance is not None else None,
    )
    if bucketed:
        monitoring.append(build_bucket_sensor(bucketed, job=main_job))
    jobs_list: list[Any] = [main_job, *bucket_jobs.values(), retention_job]
    if spec.rollback is not None:
        try:
            jobs_list.append(build_rollback_job(spec, name=tenant_name(ROLLBACK_JOB_NAME)))
        except NoSnapshotError as exc:
            # No verified snapshot yet: the rollback job appears once one exists. A snapshot that
            # exists but cannot be read, or a plan refused, fails loading with its reason.
            logging.getLogger(__name__).info("rollback job not available: %s", exc)
    # Only with a performance section: a spec without one keeps its asset graph.
    perf_assets, perf_jobs, perf_schedules = build_performance_defs(spec)
    return dg.Definitions(
        assets=[*table_assets, report, *perf_assets],
        jobs=[*jobs_list, *perf_jobs],
        sensors=[d for d in monitoring if isinstance(d, dg.SensorDefinition)],
        schedules=[
            *(d for d in monitoring if isinstance(d, dg.ScheduleDefinition)),
            retention_schedule,
            *perf_schedules,
        ],
        resources={
            "migration": migration,
            # Explicit, so that runs executed in-process also keep their outputs on disk: a table's
            # buckets are combined in a later run than the ones that reconciled them.
            "io_manager": dg.FilesystemIOManager(),
        },
        executor=executor_from_environment(os.environ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location, built when Dagster loads it (not when this module is imported), from the
    spec that ``PM_SPEC`` names (the demo's by default)."""
    return build_definitions(spec_path_from_environment())
