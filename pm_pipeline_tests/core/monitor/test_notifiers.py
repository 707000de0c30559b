"""Notifiers against real local HTTP and SMTP servers: lifecycle messages, Slack format, retries, failures."""

from __future__ import annotations

from typing import Any

from pm_pipeline.core.config.monitoring import parse_monitoring
from pm_pipeline.core.monitor.alerts import AlertState, Event, EventKind, evaluate
from pm_pipeline.core.monitor.notifiers import dispatch


def _settings(http_port: int, smtp_port: int, *, fmt: str = "json") -> object:
    return parse_monitoring(
        {
            "notifiers": {
                "hook": {
                    "type": "webhook",
                    "url": f"http://127.0.0.1:{http_port}/alerts",
                    "format": fmt,
                    "retries": 2,
                    "backoff": "10ms",
                    "timeout": "2s",
                },
                "mail": {
                    "type": "smtp",
                    "host": "127.0.0.1",
                    "port": smtp_port,
                    "sender": "pm@example.org",
                    "recipients": ["dba@example.org"],
                    "retries": 1,
                    "backoff": "10ms",
                    "timeout": "2s",
                },
            },
            "rules": [
                {
                    "name": "recon",
                    "condition": {"kind": "check_failed"},
                    "cooldown": "10m",
                    "escalate": {"after_failures": 3},
                    "notify": ["hook", "mail"],
                }
            ],
        },
        file="spec.yaml",
    )


def test_fire_cooldown_escalate_recover_reach_both_servers(receivers: Any) -> None:
    with receivers.http() as http, receivers.smtp() as (smtp_port, inbox):
        settings = _settings(http.server_address[1], smtp_port)
        state = AlertState()
        outcomes = []
        for now, ok in [(0, False), (60, False), (120, False), (180, True)]:
            event = Event(
                EventKind.CHECK, "orders", "reconcile_rows", ok=ok, detail="" if ok else "3 missing"
            )
            state, sent = evaluate(settings.rules, [event], state, now)  # type: ignore[attr-defined]
            outcomes += dispatch(sent, settings.notifiers, migration="m1")  # type: ignore[attr-defined]
        assert all(delivery.ok for delivery in outcomes)
        assert [(body["transition"], body["severity"]) for body in http.received] == [
            ("firing", "warning"),
            ("escalated", "critical"),
            ("resolved", "critical"),
        ]
        assert http.received[0]["subjects"] == ["orders"] and http.received[0]["migration"] == "m1"
        assert [message["Subject"] for message in inbox] == [
            "[WARNING] recon firing: orders",
            "[CRITICAL] recon escalated: orders",
            "[CRITICAL] recon resolved: orders",
        ]
        assert inbox[0]["To"] == "dba@example.org"
        assert "orders: 3 missing" in inbox[0].get_payload()


def test_slack_format_and_a_retried_server_error(receivers: Any) -> None:
    with receivers.http(statuses=[500]) as http, receivers.smtp() as (smtp_port, _):
        settings = _settings(http.server_address[1], smtp_port, fmt="slack")
        event = Event(EventKind.CHECK, "orders", "reconcile_rows", ok=False)
        _, sent = evaluate(settings.rules, [event], AlertState(), 0)  # type: ignore[attr-defined]
        deliveries = dispatch(sent, settings.notifiers, migration="m1")  # type: ignore[attr-defined]
        hook = next(d for d in deliveries if d.notifier == "hook")
        assert hook.ok and hook.attempts == 2
        assert len(http.received) == 2  # the failed attempt and its retry
        assert http.received[1]["text"].endswith("[WARNING] recon firing: orders")
        assert http.received[1]["blocks"][0]["type"] == "section"


def test_unreachable_endpoints_are_retried_then_recorded_as_failed(receivers: Any) -> None:
    settings = _settings(receivers.closed(), receivers.closed())
    delays: list[float] = []
    event = Event(EventKind.CHECK, "orders", "reconcile_rows", ok=False)
    _, sent = evaluate(settings.rules, [event], AlertState(), 0)  # type: ignore[attr-defined]
    deliveries = dispatch(sent, settings.notifiers, migration="m1", sleep=delays.append)  # type: ignore[attr-defined]
    assert [(d.notifier, d.ok, d.attempts) for d in deliveries] == [("hook", False, 3), ("mail", False, 2)]
    assert delays == [0.01, 0.02, 0.01]  # exponential backoff per notifier
    assert all(d.error for d in deliveries)
