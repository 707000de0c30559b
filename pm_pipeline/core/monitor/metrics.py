"""Run metrics (per table, and per performance workload query): their metadata names, and the alert
events a new value produces."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pm_pipeline.core.config.monitoring import AnomalySettings
from pm_pipeline.core.monitor.alerts import Event, EventKind
from pm_pipeline.core.monitor.anomaly import detect

# Metadata keys a table's reconciliation asset records on every materialization; the history
# reader, the threshold rules and the anomaly detector all read these names.
SOURCE_ROWS = "source_rows"
TARGET_ROWS = "target_rows"
MISMATCH_RATE = "mismatch_rate"
MATCH_SCORE = "match_score"
DURATION_SECONDS = "duration_seconds"
INTEGRITY_FAILURES = "integrity_failures"
METRIC_NAMES = (SOURCE_ROWS, TARGET_ROWS, MISMATCH_RATE, MATCH_SCORE, DURATION_SECONDS, INTEGRITY_FAILURES)

# The performance workload's asset records "<query>/<metric>" for each workload query. Each query is
# an alert subject of its own, "performance/<query>", so rules (``tables: ["performance/*"]``) and
# the anomaly detector see one latency series per query, never a mix of fast and slow queries.
SOURCE_P50_MS = "source_p50_ms"
TARGET_P50_MS = "target_p50_ms"
SOURCE_P95_MS = "source_p95_ms"
TARGET_P95_MS = "target_p95_ms"
LATENCY_RATIO = "ratio"
LATENCY_METRICS = (SOURCE_P50_MS, TARGET_P50_MS, SOURCE_P95_MS, TARGET_P95_MS, LATENCY_RATIO)
PERFORMANCE_SUBJECT_PREFIX = "performance/"


def latency_metric_key(query: str, metric: str) -> str:
    """The metadata key of one query's latency metric on the workload asset."""
    return f"{query}/{metric}"


def latency_metrics(metadata: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Per workload query, its latency metrics found among the workload asset's metadata entries."""
    per_query: dict[str, dict[str, float]] = {}
    for key, value in metadata.items():
        query, slash, metric = key.rpartition("/")
        if slash and query and metric in LATENCY_METRICS:
            per_query.setdefault(query, {})[metric] = value
    return per_query


def metric_events(
    table: str,
    latest: Mapping[str, float],
    history: Mapping[str, Sequence[float]],
    *,
    anomaly: AnomalySettings,
    anomaly_metrics: Sequence[str],
) -> list[Event]:
    """A METRIC event per value in ``latest``, and an ANOMALY verdict for each metric in ``anomaly_metrics``.

    ``history[name]`` holds the earlier values, oldest first, not including ``latest[name]``.
    """
    events = [
        Event(EventKind.METRIC, table, name, ok=True, value=value, detail=f"{name}={value:g}")
        for name, value in sorted(latest.items())
    ]
    for name in anomaly_metrics:
        if name not in latest:
            continue
        override = anomaly.metrics.get(name)
        if override is not None and not override.enabled:
            continue
        verdict = detect(
            history.get(name, ()),
            latest[name],
            sensitivity=(override.sensitivity if override and override.sensitivity else anomaly.sensitivity),
            min_history=anomaly.min_history,
            window=anomaly.window,
            season=anomaly.season,
            transform=(override.transform if override and override.transform else anomaly.transform),
        )
        if verdict.score is None:
            continue  # too little history: neither an anomaly nor a recovery
        events.append(
            Event(
                EventKind.ANOMALY,
                table,
                name,
                ok=not verdict.anomalous,
                value=latest[name],
                detail=f"{name}={latest[name]:g}: {verdict.reason}",
            )
        )
    return events


def latency_events(
    latest: Mapping[str, float],
    history: Sequence[Mapping[str, float]],
    *,
    anomaly: AnomalySettings,
    anomaly_metrics: Sequence[str],
) -> list[Event]:
    """The events of one workload run: ``latest`` and each of ``history`` (earlier runs, oldest first)
    are the workload asset's numeric metadata. A query judged against its own past runs only; a query
    new to the workload starts its history empty."""
    earlier = [latency_metrics(point) for point in history]
    events: list[Event] = []
    for query, values in sorted(latency_metrics(latest).items()):
        past = {
            name: [run[query][name] for run in earlier if name in run.get(query, {})]
            for name in LATENCY_METRICS
        }
        events += metric_events(
            PERFORMANCE_SUBJECT_PREFIX + query, values, past, anomaly=anomaly, anomaly_metrics=anomaly_metrics
        )
    return events
