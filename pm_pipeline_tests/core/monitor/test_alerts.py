"""The alert state machine: fire, cooldown, escalation, recovery, dedup across tables, state round-trip."""

from __future__ import annotations

from pm_pipeline.core.config.monitoring import AlertRule, AlertSeverity
from pm_pipeline.core.monitor.alerts import AlertState, Event, EventKind, Transition, evaluate

RULE = AlertRule.model_validate(
    {
        "name": "recon",
        "condition": {"kind": "check_failed", "check": "reconcile_*"},
        "cooldown": "10m",
        "escalate": {"after_failures": 3},
        "notify": ["hook"],
    }
)


def _check(table: str, ok: bool, name: str = "reconcile_rows") -> Event:
    return Event(EventKind.CHECK, table, name, ok=ok, detail="3 rows missing" if not ok else "")


def test_lifecycle_fire_suppress_escalate_resolve() -> None:
    state = AlertState()
    state, sent = evaluate([RULE], [_check("orders", False)], state, 0)
    assert [(n.transition, n.severity) for n in sent] == [(Transition.FIRING, AlertSeverity.WARNING)]
    state, sent = evaluate([RULE], [_check("orders", False)], state, 60)
    assert sent == [] and state.conditions["recon|orders"].suppressed == 1
    state, sent = evaluate([RULE], [_check("orders", False)], state, 120)
    assert [(n.transition, n.severity) for n in sent] == [(Transition.ESCALATED, AlertSeverity.CRITICAL)]
    state, sent = evaluate([RULE], [_check("orders", True)], state, 180)
    assert [(n.transition, n.severity) for n in sent] == [(Transition.RESOLVED, AlertSeverity.CRITICAL)]
    assert state.conditions == {}


def test_repeat_after_cooldown() -> None:
    rule = RULE.model_copy(update={"escalate": None})
    state, _ = evaluate([rule], [_check("orders", False)], AlertState(), 0)
    state, sent = evaluate([rule], [_check("orders", False)], state, 599)
    assert sent == []
    state, sent = evaluate([rule], [_check("orders", False)], state, 600)
    assert [n.transition for n in sent] == [Transition.REPEAT]


def test_escalation_by_duration() -> None:
    rule = RULE.model_copy(
        update={"escalate": RULE.escalate.model_copy(update={"after_failures": None, "after": "5m"})}
    )  # type: ignore[union-attr]
    state, _ = evaluate([rule], [_check("orders", False)], AlertState(), 0)
    state, sent = evaluate([rule], [_check("orders", False)], state, 100)
    assert sent == []
    _, sent = evaluate([rule], [_check("orders", False)], state, 300)
    assert [(n.transition, n.severity) for n in sent] == [(Transition.ESCALATED, AlertSeverity.CRITICAL)]


def test_tables_failing_together_make_one_notification() -> None:
    events = [_check("orders", False), _check("customers", False), _check("items", True)]
    _, sent = evaluate([RULE], events, AlertState(), 0)
    assert len(sent) == 1 and sent[0].subjects == ("customers", "orders")
    assert "orders: 3 rows missing" in sent[0].details


def test_unrelated_events_and_passing_checks_send_nothing() -> None:
    events = [_check("orders", False, name="fk_orders"), _check("orders", True)]
    state, sent = evaluate([RULE], events, AlertState(), 0)
    assert sent == [] and state.conditions == {}


def test_metric_threshold_rule() -> None:
    rule = AlertRule.model_validate(
        {
            "name": "mismatch",
            "condition": {"kind": "metric_above", "metric": "mismatch_rate", "threshold": 0.01},
            "notify": ["hook"],
        }
    )
    low = Event(EventKind.METRIC, "orders", "mismatch_rate", value=0.001)
    high = Event(EventKind.METRIC, "orders", "mismatch_rate", value=0.2)
    assert evaluate([rule], [low], AlertState(), 0)[1] == []
    assert [n.transition for n in evaluate([rule], [high], AlertState(), 0)[1]] == [Transition.FIRING]


def test_state_survives_a_json_round_trip() -> None:
    state, _ = evaluate([RULE], [_check("orders", False)], AlertState(), 0)
    restored = AlertState.from_json(state.to_json())
    assert restored == state
    _, sent = evaluate([RULE], [_check("orders", False)], restored, 30)
    assert sent == []  # a restart does not re-send
