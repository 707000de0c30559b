"""The drift sensor: fingerprints every mapped table on both sides and requests runs for changed ones."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

import dagster as dg

from pm_pipeline.core.config.monitoring import MonitoringSettings
from pm_pipeline.core.config.spec import MigrationSpec
from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.monitor.fingerprint import (
    Fingerprint,
    decode_fingerprints,
    encode_fingerprints,
    fingerprint,
    scan_drift,
    state_key,
)
from pm_pipeline.defs.common import table_keys
from pm_pipeline.defs.monitoring.buckets import PartitionedTable
from pm_pipeline.defs.presentation import fingerprint_observations
from pm_pipeline.defs.resources import MigrationResource
from pm_pipeline.defs.tenancy import tenant_name

DRIFT_SENSOR_NAME = "pm_drift_sensor"
TABLE_TAG = "pm_pipeline/table"
# A tick never waits long for a reader slot of the source: the next tick tries again.
TICK_READERS_WAIT = 20.0


def build_drift_sensor(
    spec: MigrationSpec,
    settings: MonitoringSettings,
    *,
    table_assets: Mapping[str, dg.AssetKey | Sequence[dg.AssetKey]] | None = None,
    job: dg.JobDefinition | dg.UnresolvedAssetJobDefinition | None = None,
    name: str | None = None,
    partitioned: Mapping[str, PartitionedTable] | None = None,
) -> dg.SensorDefinition:
    """A sensor whose cursor holds every table's fingerprints; a changed table gets a run request.

    With ``table_assets`` (source table -> asset key, or the keys to run together) the request
    materializes that table's assets;
    otherwise ``job`` runs with the tag ``pm_pipeline/table`` naming the table.

    A table in ``partitioned`` (source table -> its buckets) gets one request per bucket, of its
    bucket job with the bucket as partition key: its reconciliation is combined from stored bucket
    results, so re-checking it means reconciling every bucket again (the sensor ``pm_bucket_runs``
    combines them once they are done). The other tables' requests then run
    ``job`` with their ``table_assets``, which ``job`` must hold.

    The sensor connects through the ``migration`` resource (``MigrationResource``) of the
    definitions it belongs to, the source waiting at most ``TICK_READERS_WAIT`` for a reader slot.
    """
    name = name or tenant_name(DRIFT_SENSOR_NAME)
    if table_assets is None and job is None:
        raise ValueError("build_drift_sensor needs table_assets or job")
    partitioned = dict(partitioned or {})
    if partitioned and job is None:
        raise ValueError("build_drift_sensor needs the job that runs the other tables' assets")
    selections = {
        table: [keys] if isinstance(keys, dg.AssetKey) else list(keys)
        for table, keys in (table_assets or {}).items()
    }
    # A sensor targets jobs or assets, not both: with bucket jobs, every request names its job.
    by_job = bool(partitioned)
    drift = settings.drift
    tables = drift.tables or [mapping.source for mapping in spec.tables]
    keys_of = {table: table_keys(table) for table in tables}

    def measure_with(source: Connector, target: Connector) -> Callable[[str], dict[str, Fingerprint]]:
        def measure(table: str) -> dict[str, Fingerprint]:
            mapping = spec.mapping_for(table)
            clock = mapping.updated_at
            options = {"checksum_max_rows": drift.checksum_max_rows, "buckets": drift.buckets}
            return {
                "source": fingerprint(source, table, updated_at=clock, **options),
                "target": fingerprint(
                    target,
                    mapping.target_name,
                    updated_at=None if clock is None else mapping.renames.get(clock, clock),
                    **options,
                ),
            }

        return measure

    jobs = [job, *(p.job for p in partitioned.values())] if by_job and job is not None else None

    @dg.sensor(
        name=name,
        minimum_interval_seconds=drift.interval_seconds,
        asset_selection=[key for keys in selections.values() for key in keys]
        if table_assets is not None and not by_job
        else None,
        job=job if table_assets is None and not by_job else None,
        jobs=jobs,
        description=(
            "Requests a reconciliation of each mapped table whose fingerprint changed "
            "(one run per bucket for a table reconciled in key-hash buckets)."
        ),
        default_status=dg.DefaultSensorStatus.STOPPED,
    )
    def drift_sensor(context: dg.SensorEvaluationContext, migration: MigrationResource) -> dg.SensorResult:
        cursor = json.loads(context.cursor) if context.cursor else None
        previous = decode_fingerprints(cursor["fingerprints"]) if cursor else {}
        with migration.connections(spec, readers_wait=TICK_READERS_WAIT) as (source, target):
            scan = scan_drift(
                tables,
                previous,
                measure=measure_with(source, target),
                budget_seconds=drift.budget_seconds,
                pending_first=cursor.get("pending", []) if cursor else [],
            )
        to_run = list(scan.changed)
        if cursor is None and drift.initial_run:
            to_run = [table for table in tables if table in scan.fingerprints]
        requests: list[dg.RunRequest] = []
        for table in to_run:
            run_key = f"drift:{table}:{state_key(scan.fingerprints[table])}"
            tags = {TABLE_TAG: table, "pm_pipeline/trigger": "drift"}
            if table in partitioned:
                requests += partitioned[table].bucket_requests(run_key=run_key, tags=tags)
                continue
            requests.append(
                dg.RunRequest(
                    run_key=run_key,
                    job_name=job.name if by_job and job is not None else None,
                    asset_selection=selections[table] if table_assets is not None else None,
                    tags=tags,
                )
            )
        if scan.pending:
            context.log.info(f"time budget spent; {len(scan.pending)} table(s) left for the next tick")
        new_cursor = json.dumps(
            {"fingerprints": encode_fingerprints(scan.fingerprints), "pending": list(scan.pending)},
            sort_keys=True,
        )
        # Tables first seen or changed are observed: their row counts then show on both tables'
        # assets between runs. Unchanged tables add nothing, so the event log grows with changes only.
        observed = [t for t in tables if t in scan.changed or (t in scan.fingerprints and t not in previous)]
        events = [
            event
            for table in observed
            for event in fingerprint_observations(
                source=keys_of[table].source,
                target=keys_of[table].target,
                rows={side: fp.rows for side, fp in scan.fingerprints[table].items()},
                observer=name,
            )
        ]
        return dg.SensorResult(run_requests=requests, cursor=new_cursor, asset_events=events)

    return drift_sensor
