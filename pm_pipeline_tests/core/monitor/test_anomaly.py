"""The median/MAD anomaly detector: it flags injected spikes and stays quiet on normal noise."""

from __future__ import annotations

import math
import random

from pm_pipeline.core.monitor.anomaly import detect, scan


def _noise(seed: int, n: int = 1000) -> list[float]:
    rng = random.Random(seed)
    return [100 + rng.gauss(0, 5) for _ in range(n)]


def test_flags_an_injected_spike_and_only_it() -> None:
    series = _noise(7, 300)
    series[200] += 60  # 12 sigma
    assert scan(series) == [200]


def test_quiet_on_a_thousand_normal_points() -> None:
    assert scan(_noise(11)) == []


def test_false_alarm_rate_on_gaussian_noise_is_below_a_tenth_of_a_percent() -> None:
    flagged = judged = 0
    for seed in range(5):
        series = _noise(100 + seed)
        flagged += len(scan(series))
        judged += len(series) - 31
    assert flagged / judged < 0.001


def test_short_history_never_flags() -> None:
    verdict = detect([1.0, 1.0, 1.0], 1000.0)
    assert not verdict.anomalous and verdict.score is None


def test_constant_history_flags_a_departure() -> None:
    # mismatch rate is 0 run after run, then rows start to differ
    assert detect([0.0] * 40, 0.05).anomalous
    assert not detect([0.0] * 40, 0.0).anomalous


def test_seasonal_peak_is_normal_but_an_off_season_peak_is_not() -> None:
    rng = random.Random(3)
    series = [100 + 40 * (i % 24 == 12) + rng.gauss(0, 2) for i in range(24 * 40)]
    history = series[: 24 * 40 - 12]  # the next point (index 948) is phase 12: the daily peak
    assert not detect(history, 140.0, season=24).anomalous
    assert detect(history, 140.0).anomalous  # without seasonality the peak looks anomalous
    assert detect(series[: 24 * 40 - 5], 140.0, season=24).anomalous  # phase 19 never peaks


def test_diff_transform_follows_steady_growth() -> None:
    growing = [1000.0 + 10 * i + math.sin(i) for i in range(60)]
    assert detect(growing, growing[-1] + 10, transform="diff").anomalous is False
    assert detect(growing, growing[-1] + 500, transform="diff").anomalous
