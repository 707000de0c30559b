"""Alert sensors: run outcomes, asset check evaluations and metrics, routed through the spec's rules.

Each sensor keeps its event watermarks and its AlertState in its own cursor, which Dagster stores
in the instance (SQLite or dagster-postgres), so a restarted daemon re-sends nothing. Rules are
split by condition kind, so the two sensors never share a condition.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Literal

import dagster as dg

from pm_pipeline.core.config.monitoring import AlertRule, MonitoringSettings
from pm_pipeline.core.config.spec import MigrationSpec
from pm_pipeline.core.monitor.alerts import AlertState, Event, EventKind, evaluate
from pm_pipeline.core.monitor.metrics import latency_events, metric_events
from pm_pipeline.core.monitor.notifiers import dispatch
from pm_pipeline.defs.monitoring.history import metric_values, read_metric_history, series
from pm_pipeline.defs.tenancy import owns_run, tenant_name, tenant_prefix

RUN_ALERTS_SENSOR_NAME = "pm_run_alerts"
CHECK_ALERTS_SENSOR_NAME = "pm_check_alerts"
_BATCH = 200


def _deliver(
    context: dg.SensorEvaluationContext,
    spec: MigrationSpec,
    settings: MonitoringSettings,
    rules: list[AlertRule],
    events: list[Event],
    state: AlertState,
) -> AlertState:
    now = time.time()
    state, notifications = evaluate(rules, events, state, now)
    deliveries = dispatch(notifications, settings.notifiers, migration=spec.name)
    failed = [delivery.as_record(at=now) for delivery in deliveries if not delivery.ok]
    for record in failed:
        context.log.warning(f"notification failed after {record['attempts']} attempt(s): {record}")
    return state.with_failed(failed) if failed else state


def _latest_storage_id(result: Any) -> int:
    return max((record.storage_id for record in result.records), default=0)


_Finish = Literal[
    dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_CANCELED
]
_FINISHED: tuple[_Finish, ...] = (
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
)


def _finished_runs(instance: dg.DagsterInstance, *, after: int) -> tuple[list[tuple[int, str]], int]:
    """(storage id of the finish, run id) of the runs finished after ``after``, oldest first, and the
    new watermark. A kind that filled its batch bounds the watermark: nothing of another kind
    beyond that point is taken before the next tick."""
    records: list[tuple[int, str]] = []
    bound: int | None = None
    for kind in _FINISHED:
        result = instance.fetch_run_status_changes(
            dg.RunStatusChangeRecordsFilter(event_type=kind, after_storage_id=after or None),
            limit=_BATCH,
            ascending=True,
        )
        found = [(record.storage_id, record.run_id) for record in result.records]
        if len(found) == _BATCH:
            bound = found[-1][0] if bound is None else min(bound, found[-1][0])
        records += found
    if bound is not None:
        records = [record for record in records if record[0] <= bound]
    records.sort()
    return records, max([after, *(storage_id for storage_id, _ in records)])


def build_run_alert_sensor(spec: MigrationSpec, settings: MonitoringSettings) -> dg.SensorDefinition:
    """Run failures (and the successes that clear them) of any job, through the run_failed rules."""
    rules = [rule for rule in settings.rules if rule.condition.kind == "run_failed"]
    kinds: dict[str, Any] = {
        "failure": dg.DagsterEventType.RUN_FAILURE,
        "success": dg.DagsterEventType.RUN_SUCCESS,
    }

    # Every tenant's runs share the instance: only this location's are news here.
    prefix = tenant_prefix()

    @dg.sensor(
        name=tenant_name(RUN_ALERTS_SENSOR_NAME),
        minimum_interval_seconds=settings.alert_interval_seconds,
        description="Alerts on failed runs and sends a recovery notice when the job succeeds again.",
        default_status=dg.DefaultSensorStatus.STOPPED,
    )
    def run_alerts(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        cursor = json.loads(context.cursor) if context.cursor else None
        instance = context.instance
        marks: dict[str, int] = {}
        found: list[tuple[int, Event]] = []
        for label, kind in kinds.items():
            if cursor is None:  # start from now: history before the sensor existed is not news
                marks[label] = _latest_storage_id(instance.fetch_run_status_changes(kind, limit=1))
                continue
            result = instance.fetch_run_status_changes(
                dg.RunStatusChangeRecordsFilter(event_type=kind, after_storage_id=cursor[label]),
                limit=_BATCH,
                ascending=True,
            )
            marks[label] = max(cursor[label], _latest_storage_id(result))
            for record in result.records:
                job = record.event_log_entry.job_name or "unknown"
                if prefix is not None and not (
                    (run := instance.get_run_by_id(record.run_id)) and owns_run(run, prefix=prefix)
                ):
                    continue
                event = Event(EventKind.RUN, job, job, ok=label == "success", detail=f"run {record.run_id}")
                found.append((record.storage_id, event))
        state = AlertState.from_json(cursor["state"] if cursor else None)
        events = [event for _, event in sorted(found, key=lambda pair: pair[0])]
        if events:
            state = _deliver(context, spec, settings, rules, events, state)
        return dg.SensorResult(cursor=json.dumps({**marks, "state": state.to_json()}))

    return run_alerts


def _latency_events(
    instance: dg.DagsterInstance,
    key: dg.AssetKey,
    *,
    after: int,
    settings: MonitoringSettings,
    anomaly_metrics: list[str],
) -> tuple[list[tuple[int, Event]], int]:
    """The performance workload's runs after ``after``: per query its latency metrics, each judged
    against the same query's earlier runs; and the new watermark."""
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, after_storage_id=after or None), limit=_BATCH, ascending=True
    )
    found: list[tuple[int, Event]] = []
    for record in result.records:
        history = read_metric_history(
            instance, key, limit=settings.anomaly.window + 1, before_storage_id=record.storage_id, names=None
        )
        events = latency_events(
            metric_values(record, None),
            [point.values for point in history],
            anomaly=settings.anomaly,
            anomaly_metrics=anomaly_metrics,
        )
        found += [(record.storage_id, event) for event in events]
    return found, max([after, *(record.storage_id for record in result.records)])


def build_check_alert_sensor(
    spec: MigrationSpec,
    settings: MonitoringSettings,
    *,
    table_assets: Mapping[str, dg.AssetKey],
    performance_asset: dg.AssetKey | None = None,
) -> dg.SensorDefinition:
    """Asset check results, table metrics and, with ``performance_asset``, the workload's latency
    metrics per query (subject ``performance/<query>``) through the matching rules (thresholds,
    anomalies)."""
    rules = [rule for rule in settings.rules if rule.condition.kind != "run_failed"]
    table_of = {key.to_user_string(): table for table, key in table_assets.items()}
    anomaly_metrics = sorted(
        {r.condition.metric for r in rules if r.condition.kind == "anomaly" and r.condition.metric}
    )

    own = [prefix] if (prefix := tenant_prefix()) else []

    @dg.sensor(
        name=tenant_name(CHECK_ALERTS_SENSOR_NAME),
        minimum_interval_seconds=settings.alert_interval_seconds,
        description="Alerts on failed asset checks, metric thresholds and metric anomalies per table.",
        default_status=dg.DefaultSensorStatus.STOPPED,
    )
    def check_alerts(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        cursor: dict[str, Any] = json.loads(context.cursor) if context.cursor else {"checks": 0, "assets": {}}
        instance = context.instance
        found: list[tuple[int, Event]] = []
        finished, checks_mark = _finished_runs(instance, after=cursor["checks"])
        for finished_at, run_id in finished:
            # Run by run: the default SQLite instance keeps one event log per run and refuses a
            # query for one event type across all of them; every instance answers this one.
            for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
                evaluation = entry.dagster_event.event_specific_data if entry.dagster_event else None
                if not isinstance(evaluation, dg.AssetCheckEvaluation) or not evaluation.asset_key.has_prefix(
                    own
                ):
                    continue
                subject = table_of.get(
                    evaluation.asset_key.to_user_string(), evaluation.asset_key.to_user_string()
                )
                event = Event(
                    EventKind.CHECK,
                    subject,
                    evaluation.check_name,
                    ok=evaluation.passed,
                    detail=f"{evaluation.check_name} {'passed' if evaluation.passed else 'failed'}",
                )
                found.append((finished_at, event))
        asset_marks = dict(cursor["assets"])
        for table, key in table_assets.items():
            after = asset_marks.get(table, 0)
            result = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, after_storage_id=after or None),
                limit=_BATCH,
                ascending=True,
            )
            for record in result.records:
                history = read_metric_history(
                    instance, key, limit=settings.anomaly.window + 1, before_storage_id=record.storage_id
                )
                events = metric_events(
                    table,
                    metric_values(record),
                    {name: series(history, name) for name in anomaly_metrics},
                    anomaly=settings.anomaly,
                    anomaly_metrics=anomaly_metrics,
                )
                found += [(record.storage_id, event) for event in events]
            asset_marks[table] = max([after, *(record.storage_id for record in result.records)])
        if performance_asset is not None:
            mark = performance_asset.to_user_string()
            latency, asset_marks[mark] = _latency_events(
                instance,
                performance_asset,
                after=asset_marks.get(mark, 0),
                settings=settings,
                anomaly_metrics=anomaly_metrics,
            )
            found += latency
        state = AlertState.from_json(cursor.get("state"))
        events = [event for _, event in sorted(found, key=lambda pair: pair[0])]
        if events:
            state = _deliver(context, spec, settings, rules, events, state)
        new_cursor = {"checks": checks_mark, "assets": asset_marks, "state": state.to_json()}
        return dg.SensorResult(cursor=json.dumps(new_cursor))

    return check_alerts
