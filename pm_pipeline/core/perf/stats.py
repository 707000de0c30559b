"""Latency statistics: percentiles with bootstrap confidence intervals, and the test that decides
whether the target is slower than the source or the difference is the noise of a shared machine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

# numpy and scipy load only when a workload runs: importing them costs about a second, which every
# `pm-pipeline check` would otherwise pay, with or without a workload.
if TYPE_CHECKING:
    import numpy as np

BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95
# A median known to +/- 5% is stable enough to compare against a regression ratio of 2 or more.
AUTO_PRECISION = 0.05
AUTO_MIN_RUNS = 10
_SEED = 16  # a fixed seed: the same timings always give the same intervals


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class Latency:
    """One side's timings of one query, in seconds."""

    runs: int
    p50: float
    p95: float
    mean: float
    p50_ci: Interval
    p95_ci: Interval
    mean_ci: Interval

    def to_json(self) -> dict[str, float | int | list[float]]:
        ms = 1000.0
        return {
            "runs": self.runs,
            "p50_ms": self.p50 * ms,
            "p95_ms": self.p95 * ms,
            "mean_ms": self.mean * ms,
            "p50_ci_ms": [self.p50_ci.low * ms, self.p50_ci.high * ms],
            "p95_ci_ms": [self.p95_ci.low * ms, self.p95_ci.high * ms],
            "mean_ci_ms": [self.mean_ci.low * ms, self.mean_ci.high * ms],
        }


@dataclass(frozen=True)
class Comparison:
    """Target against source: the ratio of medians, its bootstrap interval and the rank test."""

    ratio: float
    ratio_ci: Interval
    p_value: float  # one-sided Mann-Whitney U: is the target slower?
    slowdown: float  # target median - source median, seconds


def _resampled(samples: np.ndarray, statistic: str, rng: np.random.Generator) -> np.ndarray:
    import numpy as np

    draws = rng.choice(samples, size=(BOOTSTRAP_RESAMPLES, samples.size), replace=True)
    if statistic == "mean":
        return np.asarray(draws.mean(axis=1))
    quantile = 0.5 if statistic == "p50" else 0.95
    return np.asarray(np.quantile(draws, quantile, axis=1))


def _interval(values: np.ndarray) -> Interval:
    import numpy as np

    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return Interval(float(low), float(high))


def latency(timings: Sequence[float]) -> Latency:
    """Percentiles and mean of ``timings`` with percentile-bootstrap 95% intervals."""
    import numpy as np

    samples = np.asarray(timings, dtype=float)
    if samples.size == 0:
        raise ValueError("no timings")
    rng = np.random.default_rng(_SEED)
    return Latency(
        runs=int(samples.size),
        p50=float(np.quantile(samples, 0.5)),
        p95=float(np.quantile(samples, 0.95)),
        mean=float(samples.mean()),
        p50_ci=_interval(_resampled(samples, "p50", rng)),
        p95_ci=_interval(_resampled(samples, "p95", rng)),
        mean_ci=_interval(_resampled(samples, "mean", rng)),
    )


def median_is_stable(timings: Sequence[float], *, precision: float = AUTO_PRECISION) -> bool:
    """Whether the bootstrap interval of the median is within ``precision`` of the median."""
    import numpy as np

    samples = np.asarray(timings, dtype=float)
    if samples.size < AUTO_MIN_RUNS:
        return False
    median = float(np.quantile(samples, 0.5))
    interval = _interval(_resampled(samples, "p50", np.random.default_rng(_SEED)))
    return median > 0 and (interval.high - interval.low) / 2 <= precision * median


def compare(source: Sequence[float], target: Sequence[float]) -> Comparison:
    """How much slower the target is, with the bootstrap interval of the ratio of medians and the
    one-sided rank test (robust to the outliers a shared machine produces)."""
    import numpy as np
    from scipy import stats as scipy_stats

    src = np.asarray(source, dtype=float)
    tgt = np.asarray(target, dtype=float)
    rng = np.random.default_rng(_SEED)
    src_medians = _resampled(src, "p50", rng)
    tgt_medians = _resampled(tgt, "p50", rng)
    floor = np.finfo(float).tiny
    ratios = tgt_medians / np.maximum(src_medians, floor)
    src_median = float(np.quantile(src, 0.5))
    tgt_median = float(np.quantile(tgt, 0.5))
    test = scipy_stats.mannwhitneyu(tgt, src, alternative="greater")
    return Comparison(
        ratio=tgt_median / max(src_median, floor),
        ratio_ci=_interval(ratios),
        p_value=float(test.pvalue),
        slowdown=tgt_median - src_median,
    )
