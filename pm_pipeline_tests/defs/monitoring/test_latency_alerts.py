"""The workload's latency history feeds the alert sensor: a slow drift over days raises the anomaly rule
for that query only, judged tick by tick through the sensor's cursor on a real instance in tmp."""

from __future__ import annotations

import json
import random
import socket
from pathlib import Path

import dagster as dg

from pm_pipeline.core.config.loader import spec_from_mapping
from pm_pipeline.core.config.monitoring import AnomalySettings, parse_monitoring
from pm_pipeline.core.monitor.alerts import AlertState, EventKind
from pm_pipeline.core.monitor.metrics import latency_events
from pm_pipeline.defs.assets.performance import PERFORMANCE_KEY
from pm_pipeline.defs.monitoring import build_monitoring_defs

RUNS_PER_DAY = 12  # the workload scheduled every two hours
STABLE_DAYS = 4
DRIFT_DAYS = 3
DRIFT_PER_DAY = 0.10  # the login query's target median grows by 10% of its baseline a day


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run_metadata(run: int, noise: random.Random) -> dict[str, float]:
    """One workload run's metadata, as the workload asset writes it: p50s with +/-4% noise; from day
    STABLE_DAYS on, the target's login query drifts slowly upward while everything else stays flat."""
    days_drifting = max(0.0, run / RUNS_PER_DAY - STABLE_DAYS)
    login_target = 2.0 * (1 + DRIFT_PER_DAY * days_drifting)
    jitter = lambda: 1 + noise.uniform(-0.04, 0.04)  # noqa: E731
    return {
        "queries": 2.0,
        "login/source_p50_ms": 2.0 * jitter(),
        "login/target_p50_ms": login_target * jitter(),
        "login/ratio": login_target / 2.0 * jitter(),
        "orders/source_p50_ms": 8.0 * jitter(),
        "orders/target_p50_ms": 8.5 * jitter(),
        "orders/ratio": 8.5 / 8.0 * jitter(),
    }


def test_a_slow_latency_drift_over_days_raises_the_anomaly_rule(tmp_path: Path) -> None:
    spec = spec_from_mapping(
        {
            "source": {"url": "sqlite:///a.db"},
            "target": {"url": "sqlite:///b.db"},
            "tables": [{"source": "orders"}],
        }
    )
    settings = parse_monitoring(
        {
            "notifiers": {
                "hook": {"type": "webhook", "url": f"http://127.0.0.1:{_closed_port()}/", "retries": 0}
            },
            "rules": [
                {
                    "name": "latency_drift",
                    "condition": {"kind": "anomaly", "metric": "target_p50_ms"},
                    "tables": ["performance/*"],
                    "notify": ["hook"],
                }
            ],
        },
        file="spec.yaml",
    )
    sensors = build_monitoring_defs(
        spec,
        settings,
        table_assets={"orders": dg.AssetKey(["reconcile", "orders"])},
        performance_asset=PERFORMANCE_KEY,
    )
    checks = next(s for s in sensors if isinstance(s, dg.SensorDefinition) and s.name == "pm_check_alerts")
    noise = random.Random(16)
    first_alert: int | None = None
    firing: set[str] = set()
    # A SQLite instance on disk; the consolidated event log, as the check sensor reads check
    # evaluations across runs (the run-sharded default refuses that query).
    storage = {
        "module": "dagster._core.storage.event_log",
        "class": "ConsolidatedSqliteEventLogStorage",
        "config": {"base_dir": str(tmp_path / "events")},
    }
    with dg.instance_for_test(temp_dir=str(tmp_path), overrides={"event_log_storage": storage}) as instance:
        cursor = None
        for run in range((STABLE_DAYS + DRIFT_DAYS) * RUNS_PER_DAY):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key=PERFORMANCE_KEY, metadata=_run_metadata(run, noise))
            )
            tick = checks.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))
            cursor = tick.cursor
            assert cursor is not None
            state = AlertState.from_json(json.loads(cursor)["state"])
            firing |= set(state.conditions)
            if state.conditions and first_alert is None:
                first_alert = run
    assert firing == {"latency_drift|performance/login"}  # the flat query never alarms
    assert first_alert is not None, "the drift never raised the rule"
    drift_start = STABLE_DAYS * RUNS_PER_DAY
    # Not during the stable days (a false alarm), and within two days of drifting (+20%).
    assert drift_start < first_alert <= drift_start + 2 * RUNS_PER_DAY


def test_a_query_new_to_the_workload_starts_its_own_history() -> None:
    anomaly = AnomalySettings(min_history=5)
    history = [{"old/target_p50_ms": 1.0 + i / 100} for i in range(10)]
    events = latency_events(
        {"old/target_p50_ms": 1.05, "new/target_p50_ms": 900.0},
        history,
        anomaly=anomaly,
        anomaly_metrics=["target_p50_ms"],
    )
    verdicts = {(e.subject, e.ok) for e in events if e.kind is EventKind.ANOMALY}
    # 900 ms would be anomalous against the old query's 1 ms: it is judged against nothing yet.
    assert verdicts == {("performance/old", True)}
    metrics = {(e.subject, e.name) for e in events if e.kind is EventKind.METRIC}
    assert metrics == {("performance/old", "target_p50_ms"), ("performance/new", "target_p50_ms")}
