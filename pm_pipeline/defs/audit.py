"""Audit records of runs launched in Dagster: who and from where (sensor, schedule, UI), their head as metadata.

The head of the audit chain after the run's records becomes the report asset's metadata, so the
Dagster event log holds a copy of every head outside the audit log itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from pm_pipeline.core.security.actions import record_check_run, record_reports
from pm_pipeline.core.security.masking import mask_url
from pm_pipeline.core.security.settings import spec_audit_log
from pm_pipeline.defs.resources import MigrationResource


def run_origin(tags: Mapping[str, str]) -> tuple[str, str]:
    """(origin, actor) of a run from its tags: a sensor's or schedule's name, or a launch from the UI."""
    if "dagster/sensor_name" in tags:
        return "dagster:sensor", f"sensor:{tags['dagster/sensor_name']}"
    if "dagster/schedule_name" in tags:
        return "dagster:schedule", f"schedule:{tags['dagster/schedule_name']}"
    if "dagster/backfill" in tags:
        return "dagster:backfill", f"backfill:{tags['dagster/backfill']}"
    return "dagster:ui", tags.get("user") or "dagster"


def record_report_run(
    context: dg.AssetExecutionContext,
    migration: MigrationResource,
    *,
    verdict: str,
    tables: list[str],
    written: Mapping[Any, Path],
) -> dict[str, Any]:
    """Record the run and its reports in the spec's audit log (if it names one); the head as metadata."""
    spec = migration.spec()
    origin, actor = run_origin(context.run.tags)
    log = spec_audit_log(spec, origin=origin)
    if log is None:
        return {}
    record_check_run(
        log,
        actor=actor,
        spec_name=spec.name,
        spec_checksum=migration.checksum(),
        verdict=verdict,
        tables=tables,
        source=mask_url(spec.source.url),
        target=mask_url(spec.target.url),
    )
    head = record_reports(
        log, actor=actor, spec_name=spec.name, files={str(name): path for name, path in written.items()}
    )
    return {"audit_head": head.hash, "audit_seq": head.seq, "audit_log": dg.MetadataValue.path(str(log.path))}
