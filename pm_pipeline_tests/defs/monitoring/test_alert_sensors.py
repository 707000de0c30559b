"""Alert sensors on real instances (ephemeral, and the project's own SQLite instance, which keeps one
event log per run): failed checks, metric thresholds and failed runs reach the rules."""

import json
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from pm_pipeline.core.config.loader import spec_from_mapping
from pm_pipeline.core.config.monitoring import parse_monitoring
from pm_pipeline.core.monitor.alerts import AlertState
from pm_pipeline.defs.monitoring import build_monitoring_defs
from pm_pipeline.defs.monitoring.history import read_metric_history

KEY = dg.AssetKey(["reconcile", "orders"])


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dg.asset(key=KEY, check_specs=[dg.AssetCheckSpec("reconcile_rows", asset=KEY)])
def orders(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    rate = float(context.run.tags.get("rate", "0"))
    return dg.MaterializeResult(
        metadata={"mismatch_rate": rate, "source_rows": 100},
        check_results=[dg.AssetCheckResult(check_name="reconcile_rows", passed=rate == 0)],
    )


@dg.op
def boom() -> None:
    raise RuntimeError("planned failure")


@dg.job
def nightly() -> None:
    boom()


@contextmanager
def _instance(kind: str, home: Path) -> Iterator[dg.DagsterInstance]:
    if kind == "ephemeral":
        with dg.DagsterInstance.ephemeral() as instance:
            yield instance
        return
    # What make ui and make demo run on: the dagster.yaml template in a DAGSTER_HOME of its own.
    shutil.copy(Path(__file__).parents[3] / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


@pytest.mark.parametrize("kind", ["ephemeral", "project_sqlite"])
def test_check_metric_and_run_alerts_flow_into_cursor_state(kind: str, tmp_path: Path) -> None:
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
                {"name": "checks", "condition": {"kind": "check_failed"}, "notify": ["hook"]},
                {
                    "name": "rate",
                    "condition": {"kind": "metric_above", "metric": "mismatch_rate", "threshold": 0.01},
                    "notify": ["hook"],
                },
                {"name": "runs", "condition": {"kind": "run_failed"}, "notify": ["hook"]},
            ],
        },
        file="spec.yaml",
    )
    _drift, runs, checks = build_monitoring_defs(spec, settings, table_assets={"orders": KEY})
    assert isinstance(checks, dg.SensorDefinition) and isinstance(runs, dg.SensorDefinition)
    with _instance(kind, tmp_path) as instance:
        run_start = runs.evaluate_tick(dg.build_sensor_context(instance=instance)).cursor
        assert dg.materialize([orders], instance=instance, tags={"rate": "0.2"}, raise_on_error=False)
        first = checks.evaluate_tick(dg.build_sensor_context(instance=instance))
        state = AlertState.from_json(json.loads(first.cursor)["state"])
        assert set(state.conditions) == {"checks|orders", "rate|orders"}
        # the endpoint is unreachable: recorded as failed, the tick itself succeeded
        assert {(f["rule"], f["transition"]) for f in state.failed_notifications} == {
            ("checks", "firing"),
            ("rate", "firing"),
        }

        again = checks.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor))
        assert AlertState.from_json(json.loads(again.cursor)["state"]) == state  # nothing new, nothing sent

        dg.materialize([orders], instance=instance, tags={"rate": "0"})
        healed = checks.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=again.cursor))
        assert AlertState.from_json(json.loads(healed.cursor)["state"]).conditions == {}
        history = read_metric_history(instance, KEY)
        assert [p.values["mismatch_rate"] for p in history] == [0.2, 0.0]

        nightly.execute_in_process(instance=instance, raise_on_error=False)
        after_run = runs.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=run_start))
        assert set(AlertState.from_json(json.loads(after_run.cursor)["state"]).conditions) == {"runs|nightly"}
