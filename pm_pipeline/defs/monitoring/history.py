"""Metric history read back from asset materialization metadata in the Dagster instance."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from pm_pipeline.core.monitor.metrics import METRIC_NAMES


@dataclass(frozen=True)
class MetricPoint:
    storage_id: int
    timestamp: float
    run_id: str
    values: dict[str, float]


def metric_values(
    record: dg.EventLogRecord, names: tuple[str, ...] | None = METRIC_NAMES
) -> dict[str, float]:
    """The numeric metric entries of one materialization's metadata (``names=None``: all of them)."""
    materialization = record.asset_materialization
    if materialization is None:
        return {}
    values: dict[str, float] = {}
    for name in materialization.metadata if names is None else names:
        entry = materialization.metadata.get(name)
        raw = entry.value if isinstance(entry, dg.MetadataValue) else entry
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            values[name] = float(raw)
    return values


def read_metric_history(
    instance: dg.DagsterInstance,
    asset_key: dg.AssetKey,
    *,
    limit: int = 200,
    before_storage_id: int | None = None,
    names: tuple[str, ...] | None = METRIC_NAMES,
) -> list[MetricPoint]:
    """The last ``limit`` materializations' metrics, oldest first (through public instance APIs)."""
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, before_storage_id=before_storage_id), limit=limit
    )
    points = [
        MetricPoint(record.storage_id, record.timestamp, record.run_id, metric_values(record, names))
        for record in result.records
    ]
    return sorted(points, key=lambda point: point.storage_id)


def series(points: list[MetricPoint], name: str) -> list[float]:
    return [point.values[name] for point in points if name in point.values]
