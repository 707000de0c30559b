"""The alert state machine: pure functions over a serialisable state, no clock and no I/O.

``evaluate(rules, events, state, now)`` says which notifications to send and what to remember.
One rule and one subject (a table, a job) make one condition; it fires once, is quiet during its
cooldown, escalates warning -> critical, and sends a recovery notice when it clears. Conditions of
one rule changing the same way in one evaluation are merged into one notification (dedup across
tables).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from pm_pipeline.core.config.monitoring import AlertRule, AlertSeverity

_FAILED_KEEP = 50


class EventKind(StrEnum):
    CHECK = "check"  # an asset check evaluation; name = check name
    METRIC = "metric"  # a metric value; name = metric name
    ANOMALY = "anomaly"  # the detector's verdict on a metric; name = metric name
    RUN = "run"  # a run finished; name = job name


@dataclass(frozen=True)
class Event:
    """Something observed about one subject. ``ok`` is False for a failed check/run or an anomaly."""

    kind: EventKind
    subject: str  # the table (or job, for runs)
    name: str
    ok: bool = True
    value: float | None = None
    detail: str = ""


class Transition(StrEnum):
    FIRING = "firing"
    REPEAT = "repeat"  # still failing after the cooldown
    ESCALATED = "escalated"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Notification:
    rule: str
    transition: Transition
    severity: AlertSeverity
    subjects: tuple[str, ...]
    notify: tuple[str, ...]
    details: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:
        what = {
            Transition.FIRING: "firing",
            Transition.REPEAT: "still failing",
            Transition.ESCALATED: "escalated",
            Transition.RESOLVED: "resolved",
        }[self.transition]
        return f"[{self.severity.value.upper()}] {self.rule} {what}: {', '.join(self.subjects)}"

    @property
    def text(self) -> str:
        return "\n".join((self.title, *self.details))


class ConditionState(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    first_failed_at: float
    last_failed_at: float
    consecutive_failures: int
    severity: AlertSeverity
    last_notified_at: float
    suppressed: int = 0


class AlertState(BaseModel):
    """Everything the alerting remembers; ``to_json``/``from_json`` round-trip it through a cursor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    conditions: dict[str, ConditionState] = {}
    failed_notifications: list[dict[str, Any]] = []

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | None) -> AlertState:
        return cls() if not text else cls.model_validate_json(text)

    def with_failed(self, records: Sequence[dict[str, Any]]) -> AlertState:
        kept = [*self.failed_notifications, *records][-_FAILED_KEEP:]
        return self.model_copy(update={"failed_notifications": kept})


_KIND_FOR_CONDITION = {
    "check_failed": EventKind.CHECK,
    "metric_above": EventKind.METRIC,
    "metric_below": EventKind.METRIC,
    "anomaly": EventKind.ANOMALY,
    "run_failed": EventKind.RUN,
}


def _failing(rule: AlertRule, event: Event) -> bool | None:
    """True/False when ``event`` says the rule's condition holds/clears for its subject; None if unrelated."""
    cond = rule.condition
    if event.kind is not _KIND_FOR_CONDITION[cond.kind]:
        return None
    if rule.tables is not None and not any(fnmatch.fnmatchcase(event.subject, p) for p in rule.tables):
        return None
    if cond.kind == "check_failed":
        return None if cond.check and not fnmatch.fnmatchcase(event.name, cond.check) else not event.ok
    if cond.kind == "run_failed":
        return None if cond.job and not fnmatch.fnmatchcase(event.name, cond.job) else not event.ok
    if event.name != cond.metric:
        return None
    if cond.kind == "anomaly":
        return not event.ok
    if event.value is None or cond.threshold is None:
        return None
    if cond.kind == "metric_above":
        return event.value > cond.threshold
    return event.value < cond.threshold


def _severity(rule: AlertRule, condition: ConditionState, now: float) -> AlertSeverity:
    escalate = rule.escalate
    if rule.severity is AlertSeverity.CRITICAL or escalate is None:
        return rule.severity
    by_count = (
        escalate.after_failures is not None and condition.consecutive_failures >= escalate.after_failures
    )
    after = escalate.after_seconds
    by_time = after is not None and now - condition.first_failed_at >= after
    return AlertSeverity.CRITICAL if by_count or by_time else rule.severity


def condition_key(rule: str, subject: str) -> str:
    return f"{rule}|{subject}"


def evaluate(
    rules: Sequence[AlertRule], events: Iterable[Event], state: AlertState, now: float
) -> tuple[AlertState, list[Notification]]:
    """Apply ``events`` (in order) to ``state`` at time ``now`` (epoch seconds)."""
    conditions = dict(state.conditions)
    # (rule, transition, severity) -> subjects and details, merged into one notification each.
    pending: dict[tuple[str, Transition, AlertSeverity], dict[str, str]] = {}
    events = list(events)
    for rule in rules:
        for event in events:
            failing = _failing(rule, event)
            if failing is None:
                continue
            key = condition_key(rule.name, event.subject)
            current = conditions.get(key)
            transition: Transition | None = None
            if not failing:
                if current is not None:
                    del conditions[key]
                    if rule.recovery:
                        transition, severity = Transition.RESOLVED, current.severity
            elif current is None:
                fresh = ConditionState(
                    first_failed_at=now,
                    last_failed_at=now,
                    consecutive_failures=1,
                    severity=rule.severity,
                    last_notified_at=now,
                )
                severity = _severity(rule, fresh, now)
                conditions[key] = fresh.model_copy(update={"severity": severity})
                transition = Transition.FIRING
            else:
                grown = current.model_copy(
                    update={"last_failed_at": now, "consecutive_failures": current.consecutive_failures + 1}
                )
                severity = _severity(rule, grown, now)
                if severity.rank > current.severity.rank:
                    transition = Transition.ESCALATED
                elif now - current.last_notified_at >= rule.cooldown_seconds:
                    transition = Transition.REPEAT
                if transition is None:
                    conditions[key] = grown.model_copy(update={"suppressed": current.suppressed + 1})
                else:
                    conditions[key] = grown.model_copy(
                        update={"severity": severity, "last_notified_at": now, "suppressed": 0}
                    )
            if transition is not None:
                bucket = pending.setdefault((rule.name, transition, severity), {})
                bucket[event.subject] = event.detail
    by_name = {rule.name: rule for rule in rules}
    notifications = [
        Notification(
            rule=rule_name,
            transition=transition,
            severity=severity,
            subjects=tuple(sorted(subjects)),
            notify=tuple(by_name[rule_name].notify),
            details=tuple(f"{subject}: {detail}" for subject, detail in sorted(subjects.items()) if detail),
        )
        for (rule_name, transition, severity), subjects in pending.items()
    ]
    return replace_state(state, conditions), notifications


def replace_state(state: AlertState, conditions: dict[str, ConditionState]) -> AlertState:
    return state.model_copy(update={"conditions": conditions})


__all__ = [
    "AlertState",
    "ConditionState",
    "Event",
    "EventKind",
    "Notification",
    "Transition",
    "evaluate",
]
