"""Robust anomaly detection on one metric's history: median/MAD z-score, seasonal when possible.

The median and the MAD ignore the outliers they are hunting, unlike a mean and a standard
deviation that one spike inflates enough to hide the next one.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

# 1.4826 * MAD estimates the standard deviation of normally distributed data.
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class AnomalyVerdict:
    """Whether the newest point is anomalous, and why."""

    value: float
    anomalous: bool
    score: float | None  # robust z-score; None when the history is too short
    baseline: float | None  # the median it was compared with
    scale: float | None  # the robust standard deviation it was divided by
    seasonal: bool
    reason: str


def _robust_scale(values: Sequence[float], centre: float) -> float:
    mad = statistics.median(abs(value - centre) for value in values) * _MAD_TO_SIGMA
    if mad > 0:
        return mad
    # More than half the history is one value: fall back on the mean deviation, then on a
    # relative epsilon so a constant series still flags a real departure without dividing by 0.
    mean_dev = statistics.fmean(abs(value - centre) for value in values) * 1.2533
    return mean_dev if mean_dev > 0 else max(abs(centre), 1.0) * 1e-9


def detect(
    history: Sequence[float],
    value: float,
    *,
    sensitivity: float = 4.5,
    min_history: int = 30,
    window: int = 100,
    season: int | None = None,
    transform: Literal["level", "diff"] = "level",
) -> AnomalyVerdict:
    """Judge ``value`` against ``history`` (oldest first, not including ``value``).

    ``transform="diff"`` judges the change from the previous point instead of the level, for
    metrics that grow steadily (row counts). With ``season`` set and at least ``min_history``
    earlier points in the same phase, only those are compared (a Monday with past Mondays).
    """
    series = [float(point) for point in history]
    current = float(value)
    if transform == "diff":
        if not series:
            return AnomalyVerdict(current, False, None, None, None, False, "no history yet")
        current = current - series[-1]
        series = [later - earlier for earlier, later in itertools.pairwise(series)]
    if len(series) < min_history:
        return AnomalyVerdict(
            current, False, None, None, None, False, f"history of {len(series)} < {min_history} points"
        )
    seasonal = False
    reference = series[-window:]
    if season is not None:
        # The newest point's phase: same phase as series[-season], series[-2*season], ...
        same_phase = series[len(series) - season :: -season][: max(window // season, min_history)]
        if len(same_phase) >= min_history:
            reference, seasonal = same_phase, True
    centre = statistics.median(reference)
    scale = _robust_scale(reference, centre)
    score = (current - centre) / scale
    anomalous = abs(score) > sensitivity
    kind = "seasonal " if seasonal else ""
    reason = (
        f"robust z={score:.2f} vs {kind}median {centre:.6g} over {len(reference)} points "
        f"({'above' if anomalous else 'within'} sensitivity {sensitivity:g})"
    )
    return AnomalyVerdict(current, anomalous, score, centre, scale, seasonal, reason)


def scan(
    series: Sequence[float],
    *,
    sensitivity: float = 4.5,
    min_history: int = 30,
    window: int = 100,
    season: int | None = None,
    transform: Literal["level", "diff"] = "level",
) -> list[int]:
    """Indexes of the points of ``series`` that ``detect`` flags, each judged against those before it."""
    flagged: list[int] = []
    for index in range(1, len(series)):
        verdict = detect(
            series[:index],
            series[index],
            sensitivity=sensitivity,
            min_history=min_history,
            window=window,
            season=season,
            transform=transform,
        )
        if verdict.anomalous:
            flagged.append(index)
    return flagged
