"""The code location's entry point: assets, checks, jobs, sensors and schedules built from one spec.

The spec is the file named by PM_SPEC; without it, the embedded demo (built on first use in
PM_DEMO_DIR, default ./demo_output).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import dagster as dg

from pm_pipeline.core.config import MigrationSpec, load_spec
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.monitor.settings import parse_monitoring
from pm_pipeline.core.run import select_tables
from pm_pipeline.defs.executors import executor_from_environment
from pm_pipeline.defs.monitoring import build_monitoring_defs
from pm_pipeline.defs.partitions import bucket_key, build_bucket_job
from pm_pipeline.defs.reports import build_report_asset
from pm_pipeline.defs.resources import MigrationResource
from pm_pipeline.defs.rollback import build_rollback_job
from pm_pipeline.defs.tables import build_table_assets

MAIN_JOB = "migration_check"

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


def _mappings(spec: MigrationSpec) -> list:  # type: ignore[type-arg]
    if not spec.discover:
        return list(spec.tables)
    # Discovered tables become assets, so the databases are asked which tables they share.
    with connect(spec.source.url) as source, connect(spec.target.url) as target:
        return list(select_tables(spec, source=source, target=target).mappings)


def build_definitions(spec_path: Path) -> dg.Definitions:
    spec = load_spec(spec_path)
    mappings = _mappings(spec)
    table_assets, keys = build_table_assets(spec, mappings)
    report = build_report_asset(keys)
    # Buckets run as partitions (a backfill, or their own job); the main job combines them.
    partitioned = [m for m in mappings if m.partitions]
    check_selection = dg.AssetSelection.groups(
        "reconciliation", "integrity", "verification", "reports"
    ) - dg.AssetSelection.assets(*(bucket_key(m.source) for m in partitioned))
    main_job = dg.define_asset_job(
        MAIN_JOB,
        selection=check_selection,
        description="Reconcile every mapped table, check schemas, verify against the thresholds, write the reports.",
    )
    jobs = {"reconcile": main_job, "all": main_job, "reports": main_job, "integrity": main_job}
    monitoring = build_monitoring_defs(
        spec,
        parse_monitoring(spec.monitoring, file=str(spec_path)),
        table_assets={k.table: k.verified for k in keys},
        jobs=jobs,  # type: ignore[arg-type]
        drift_selection={k.table: [k.reconciliation, k.schema, k.integrity, k.verified] for k in keys},
    )
    jobs_list: list[Any] = [main_job, *(build_bucket_job(m, m.partitions) for m in partitioned)]
    if spec.rollback:
        try:
            jobs_list.append(build_rollback_job(spec, spec_file=str(spec_path)))
        except BadInputError as exc:
            # No verified snapshot yet: the rollback job appears once one exists.
            logging.getLogger(__name__).info("rollback job not available: %s", exc)
    return dg.Definitions(
        assets=[*table_assets, report],
        jobs=jobs_list,
        sensors=[d for d in monitoring if isinstance(d, dg.SensorDefinition)],
        schedules=[d for d in monitoring if isinstance(d, dg.ScheduleDefinition)],
        resources={
            "migration": MigrationResource(spec_path=str(spec_path)),
            # Explicit, so that runs executed in-process also keep their outputs on disk: a table's
            # buckets are combined in a later run than the ones that reconciled them.
            "io_manager": dg.FilesystemIOManager(),
        },
        executor=executor_from_environment(os.environ),
    )


defs = build_definitions(spec_path_from_environment())
