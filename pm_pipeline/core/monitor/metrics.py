"""Per-table run metrics: their metadata names, and the alert events a new value produces."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pm_pipeline.core.monitor.alerts import Event, EventKind
from pm_pipeline.core.monitor.anomaly import detect
from pm_pipeline.core.monitor.settings import AnomalySettings

# Metadata keys a table's reconciliation asset records on every materialization; the history
# reader, the threshold rules and the anomaly detector all read these names.
SOURCE_ROWS = "source_rows"
TARGET_ROWS = "target_rows"
MISMATCH_RATE = "mismatch_rate"
MATCH_SCORE = "match_score"
DURATION_SECONDS = "duration_seconds"
INTEGRITY_FAILURES = "integrity_failures"
METRIC_NAMES = (SOURCE_ROWS, TARGET_ROWS, MISMATCH_RATE, MATCH_SCORE, DURATION_SECONDS, INTEGRITY_FAILURES)


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
