"""The report asset: every format, downstream of the diffs (not of the verdicts), so it is produced
even when the migration fails its checks. It reports what the table assets handed it, the servers'
versions included, and opens no database."""

import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from pm_pipeline.core.findings import TableReconciliation
from pm_pipeline.core.integrity import ManifestEntry, write_manifest
from pm_pipeline.core.report import ReportData, ReportFormat, write_reports
from pm_pipeline.core.report.audiences import (
    INSTANCE_CLEARANCE_ENV,
    at_clearance,
    audience_record,
    audience_root,
    audiences_of,
)
from pm_pipeline.core.report.markdown import render_markdown
from pm_pipeline.core.report.report_set import LATEST, new_run_id, publish_report_set, staged_report_set
from pm_pipeline.core.run import CheckResult, check_report
from pm_pipeline.core.security.masking import mask_url
from pm_pipeline.defs.assets.tables import IntegrityOutput, ServerVersions, TableKeys
from pm_pipeline.defs.audit import record_report_run
from pm_pipeline.defs.resources import MigrationResource
from pm_pipeline.defs.tenancy import tenant_key

REPORT_KEY = dg.AssetKey(["reports", "migration_report"])
PREVIEW_CHARS = 20_000


def report_key() -> dg.AssetKey:
    """The report's asset key in this code location (under its tenant, with one)."""
    return tenant_key(*REPORT_KEY.path)


def checks_window(
    context: AssetExecutionContext, keys: Sequence[TableKeys], results: Sequence[TableReconciliation]
) -> tuple[dt.datetime, dt.datetime]:
    """When the checks this report reads ran, from what Dagster and the checks recorded, never this
    step's clock: from the start of the earliest run that materialized one of the report's inputs
    (or an earlier start a reconciliation recorded, as buckets reconciled by earlier runs do) to the
    last of their materializations and reconciliations' ends. With no input (no table), this run's
    start and the report's own time."""
    instance = context.instance
    events = [
        event
        for key in (k for table in keys for k in (table.schema, table.reconciliation, table.integrity))
        if (event := instance.get_latest_materialization_event(key)) is not None
    ]
    runs = sorted({e.run_id for e in events} or {context.run_id})
    starts = [t.started_at for t in results if t.started_at is not None] + [
        started for run_id in runs if (started := run_started(instance, run_id)) is not None
    ]
    ends = [t.finished_at for t in results if t.finished_at is not None] + [
        dt.datetime.fromtimestamp(e.timestamp, dt.UTC) for e in events
    ]
    finished = max(ends) if ends else dt.datetime.now(dt.UTC)
    return (min(starts) if starts else finished), finished


def run_started(instance: dg.DagsterInstance, run_id: str) -> dt.datetime | None:
    """When the run started, or None for a run the instance no longer holds (or never started)."""
    record = instance.get_run_record_by_id(run_id)
    if record is None or record.start_time is None:
        return None
    return dt.datetime.fromtimestamp(record.start_time, dt.UTC)


def checked_servers(integrity: Sequence[IntegrityOutput]) -> ServerVersions:
    """The servers the report's checks read, as the integrity assets found them on the connections
    they held (the report opens none); 'unknown' when no table was checked or the outputs were
    stored without them (an older release: materialize the integrity assets again)."""
    found = next((output.servers for output in integrity if getattr(output, "servers", None)), None)
    return found or ServerVersions(source="unknown", target="unknown")


def build_report_asset(keys: Sequence[TableKeys], *, owners: Sequence[str] = ()) -> dg.AssetsDefinition:
    ins = {f"t{i}": dg.AssetIn(key=k.reconciliation) for i, k in enumerate(keys)}
    ins.update({f"s{i}": dg.AssetIn(key=k.schema) for i, k in enumerate(keys)})
    ins.update({f"i{i}": dg.AssetIn(key=k.integrity) for i, k in enumerate(keys)})

    @dg.asset(
        key=report_key(),
        ins=ins,
        group_name="reports",
        kinds={"html", "pdf", "json", "csv", "xlsx"},
        owners=list(owners),
        description=(
            "Technical HTML, executive summary (HTML, PDF), compliance evidence (PDF, JSON), findings JSON, "
            "CSV per category, Markdown summary and XLSX workbook of the latest reconciliation."
        ),
    )
    def migration_report(
        context: AssetExecutionContext, migration: MigrationResource, **tables: Any
    ) -> dg.MaterializeResult[None]:
        spec = migration.spec()
        order = sorted((n for n in tables if n.startswith("t")), key=lambda n: int(n[1:]))
        results: list[TableReconciliation] = [tables[name] for name in order]
        schema_findings = [
            f for name in sorted(tables) if name.startswith("s") for f in tables[name].findings
        ]
        integrity: list[IntegrityOutput] = [tables[name] for name in sorted(tables) if name.startswith("i")]
        schema_findings += [f for bundle in integrity for f in bundle.findings]
        manifest = tuple(b.manifest_entry for b in integrity if b.manifest_entry is not None)
        servers = checked_servers(integrity)
        started, finished = checks_window(context, keys, results)
        check = CheckResult(
            spec=spec,
            started_at=started,
            finished_at=finished,
            source_url=mask_url(spec.source.url),
            target_url=mask_url(spec.target.url),
            source_version=servers.source,
            target_version=servers.target,
            tables=tuple(results),
            findings=tuple(schema_findings),
            manifest=manifest,
        )
        report = check_report(
            check,
            spec_checksum=migration.checksum(),
            launched_by=f"dagster run {context.run_id}",
            run_id=context.run_id,
        )
        root = migration.reports_directory()
        set_id = new_run_id(suffix=context.run_id[:8])
        metadata: dict[str, Any] = {}
        audiences = audiences_of(spec)
        if audiences:
            # The run holds values up to the instance's clearance only: higher audiences' sets are
            # written by `pm-pipeline check`, never from what Dagster stored.
            shown = [a for a in audiences if a.rank <= spec.reports.clearance.rank]
            for audience in sorted(set(audiences) - set(shown), key=lambda a: a.rank):
                context.log.warning(
                    f"no '{audience}' report set: this code location is cleared for "
                    f"'{spec.reports.clearance}' at most ({INSTANCE_CLEARANCE_ENV})"
                )
            sets = {
                audience: _publish(
                    context,
                    dataclasses.replace(
                        check_report(
                            dataclasses.replace(check, spec=at_clearance(spec, audience)),
                            spec_checksum=migration.checksum(),
                            launched_by=f"dagster run {context.run_id}",
                            run_id=context.run_id,
                        ),
                        audience=audience_record(spec, audience),
                    ),
                    root=audience_root(root, audience),
                    set_id=set_id,
                    manifest=manifest,
                )
                for audience in shown
            }
            metadata["report_sets"] = dg.MetadataValue.json(
                {str(a): str(next(iter(paths.values())).parent) for a, paths in sets.items() if paths}
            )
            written = sets[shown[-1]] if shown else {}
            audited = {f"{a}/{name}": path for a, paths in sets.items() for name, path in paths.items()}
        else:
            written = _publish(context, report, root=root, set_id=set_id, manifest=manifest)
            audited = written
        metadata.update({f"{fmt}_path": dg.MetadataValue.path(str(path)) for fmt, path in written.items()})
        metadata["verdict"] = str(report.verdict)
        metadata.update(
            record_report_run(
                context,
                migration,
                verdict=str(report.decision.state if report.decision else report.verdict),
                tables=[t.table for t in results],
                written=audited,
            )
        )
        metadata["summary"] = dg.MetadataValue.md(render_markdown(report)[:PREVIEW_CHARS])
        if ReportFormat.HTML in written:
            metadata["open"] = dg.MetadataValue.url(written[ReportFormat.HTML].resolve().as_uri())
        return dg.MaterializeResult(metadata=metadata)

    return migration_report


def _publish(
    context: AssetExecutionContext,
    report: ReportData,
    *,
    root: Path,
    set_id: str,
    manifest: tuple[ManifestEntry, ...],
) -> dict[str, Path]:
    """Write one report set and publish it; its files by format, at their published place.

    A set of its own per run, published whole (see core.report.report_set): a sensor's run and a
    manual one never mix their files, and a run killed while writing leaves none."""
    metadata: dict[str, Any] = {"dagster_run_id": context.run_id, "verdict": str(report.verdict)}
    if report.audience is not None:
        metadata.update(report.audience.to_json())
    with staged_report_set(root=root, run_id=set_id) as staged:
        staged_paths = write_reports(report, directory=staged.directory)
        if manifest:
            write_manifest(str(staged.directory / "checksum-manifest.json"), entries=manifest)
        published = publish_report_set(staged, metadata=metadata)
    written = {str(fmt): published / path.name for fmt, path in staged_paths.items()}
    if manifest:
        written["checksum_manifest"] = published / "checksum-manifest.json"
    context.log.info(f"reports written to {published} ({root / LATEST} points at the newest)")
    return written
