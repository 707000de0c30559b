"""Validation of the spec's monitoring section: defaults, references, and errors naming file and key path."""

from __future__ import annotations

import pytest

from pm_pipeline.core.config.monitoring import AlertSeverity, WebhookNotifier, parse_monitoring
from pm_pipeline.core.errors import SpecError

GOOD = {
    "drift": {"interval": "2m", "budget": "20s", "checksum_max_rows": 1000},
    "schedules": [{"name": "nightly", "cron": "0 2 * * *"}],
    "notifiers": {
        "hook": {"type": "webhook", "url": "http://127.0.0.1:9/x", "format": "slack"},
        "mail": {"type": "smtp", "host": "127.0.0.1", "sender": "pm@x.org", "recipients": ["a@x.org"]},
    },
    "rules": [
        {
            "name": "checks",
            "condition": {"kind": "check_failed"},
            "notify": ["hook", "mail"],
            "escalate": {"after_failures": 3},
        }
    ],
}


def test_parses_a_full_section() -> None:
    settings = parse_monitoring(GOOD, file="spec.yaml")
    assert settings.drift.interval_seconds == 120
    assert settings.drift.budget_seconds == 20
    assert isinstance(settings.notifiers["hook"], WebhookNotifier)
    assert settings.rules[0].severity is AlertSeverity.WARNING
    assert settings.rules[0].cooldown_seconds == 3600


def test_empty_section_gives_defaults() -> None:
    settings = parse_monitoring({}, file="spec.yaml")
    assert settings.drift.enabled and settings.rules == [] and settings.anomaly.sensitivity == 4.5


@pytest.mark.parametrize(
    ("change", "path", "problem"),
    [
        # a misspelled option must not silently do nothing
        ({"drift": {"intervall": "1m"}}, "monitoring.drift.intervall", "unknown key"),
        ({"drift": {"interval": "soon"}}, "monitoring.drift.interval", "expected a duration"),
        ({"schedules": [{"name": "n", "cron": "every day"}]}, "monitoring.schedules[0].cron", "5-field cron"),
        (
            {"rules": [{"name": "r", "condition": {"kind": "check_failed"}, "notify": ["pager"]}]},
            "monitoring",
            "unknown notifier 'pager'",
        ),
        (
            {"rules": [{"name": "r", "condition": {"kind": "metric_above"}, "notify": ["x"]}]},
            "monitoring.rules[0].condition",
            "needs 'metric' and 'threshold'",
        ),
    ],
)
def test_errors_name_the_key_path(change: dict[str, object], path: str, problem: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_monitoring(change, file="spec.yaml")
    assert caught.value.file == "spec.yaml"
    assert caught.value.path == path
    assert problem in caught.value.problem
