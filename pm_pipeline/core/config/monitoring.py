"""The spec's ``monitoring:`` section as frozen pydantic models; unknown keys are errors."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from pm_pipeline.core.config.durations import parse_duration
from pm_pipeline.core.config.sections import parse_section


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _duration(value: str | float) -> str | float:
    parse_duration(value)
    return value


Duration = Annotated[str | float, AfterValidator(_duration)]


def _seconds(value: str | float | int) -> float:
    return parse_duration(value).total_seconds()


class AlertSeverity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return 0 if self is AlertSeverity.WARNING else 1


class DriftSettings(_Model):
    """The drift sensor: cheap fingerprints of every mapped table, compared tick to tick."""

    enabled: bool = True
    interval: Duration = Field(default="5m", description="time between sensor evaluations")
    budget: Duration = Field(default="40s", description="stop fingerprinting after this; rest next tick")
    checksum_max_rows: int = Field(default=200_000, ge=0, description="bucket checksums up to this many rows")
    buckets: int = Field(default=16, ge=1, le=1024)
    initial_run: bool = Field(default=False, description="request runs on the very first evaluation")
    tables: list[str] | None = Field(default=None, description="source tables watched; default: all")

    @property
    def interval_seconds(self) -> int:
        return max(1, int(_seconds(self.interval)))

    @property
    def budget_seconds(self) -> float:
        return _seconds(self.budget)


ScheduleTarget = Literal["reconcile", "integrity", "reports", "all"]


class ScheduleSettings(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    cron: str = Field(min_length=1)
    timezone: str = "UTC"
    target: ScheduleTarget = "all"

    @field_validator("cron")
    @classmethod
    def _cron_fields(cls, value: str) -> str:
        if not value.startswith("@") and len(value.split()) != 5:
            raise ValueError(f"expected a 5-field cron string such as '0 2 * * *', got {value!r}")
        return value


class MetricAnomaly(_Model):
    """Per-metric overrides of the anomaly detector."""

    sensitivity: float | None = Field(default=None, gt=0)
    transform: Literal["level", "diff"] | None = None
    enabled: bool = True


class AnomalySettings(_Model):
    """Median/MAD z-score on a trailing window; seasonal when ``season`` is set and history allows."""

    sensitivity: float = Field(
        default=4.5, gt=0, description="robust z-score above which a point is anomalous"
    )
    min_history: int = Field(default=30, ge=5)
    window: int = Field(default=100, ge=5)
    season: int | None = Field(default=None, ge=2, description="period in runs (e.g. 24 for hourly runs)")
    transform: Literal["level", "diff"] = "level"
    metrics: dict[str, MetricAnomaly] = Field(default_factory=dict)


class WebhookNotifier(_Model):
    type: Literal["webhook"]
    url: str = Field(min_length=1)
    format: Literal["json", "slack"] = "json"
    timeout: Duration = "5s"
    retries: int = Field(default=3, ge=0, le=10)
    backoff: Duration = Field(default="0.5s", description="first retry delay; doubles each retry")
    headers: dict[str, str] = Field(default_factory=dict)


class SmtpNotifier(_Model):
    type: Literal["smtp"]
    host: str = Field(min_length=1)
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = Field(min_length=3)
    recipients: list[str] = Field(min_length=1)
    timeout: Duration = "10s"
    retries: int = Field(default=2, ge=0, le=10)
    backoff: Duration = "1s"

    @model_validator(mode="after")
    def _login_pair(self) -> SmtpNotifier:
        if (self.username is None) != (self.password is None):
            raise ValueError("set both 'username' and 'password' for an SMTP login, or neither")
        return self


Notifier = Annotated[WebhookNotifier | SmtpNotifier, Field(discriminator="type")]

ConditionKind = Literal["check_failed", "metric_above", "metric_below", "anomaly", "run_failed"]


class AlertCondition(_Model):
    kind: ConditionKind
    metric: str | None = Field(default=None, description="metric name for metric_* and anomaly")
    threshold: float | None = None
    check: str | None = Field(default=None, description="check name (fnmatch pattern) for check_failed")
    job: str | None = Field(default=None, description="job name (fnmatch pattern) for run_failed")

    @model_validator(mode="after")
    def _needs(self) -> AlertCondition:
        if self.kind in ("metric_above", "metric_below") and (self.metric is None or self.threshold is None):
            raise ValueError(f"condition {self.kind!r} needs 'metric' and 'threshold'")
        if self.kind == "anomaly" and self.metric is None:
            raise ValueError("condition 'anomaly' needs 'metric'")
        return self


class Escalation(_Model):
    after_failures: int | None = Field(default=None, ge=1, description="consecutive failures")
    after: Duration | None = Field(default=None, description="time since the condition first fired")

    @property
    def after_seconds(self) -> float | None:
        return None if self.after is None else _seconds(self.after)


class AlertRule(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    condition: AlertCondition
    severity: AlertSeverity = AlertSeverity.WARNING
    cooldown: Duration = Field(default="1h", description="no repeat of the same condition within this")
    escalate: Escalation | None = None
    notify: list[str] = Field(min_length=1, description="notifier names")
    recovery: bool = Field(default=True, description="send a notice when the condition clears")
    tables: list[str] | None = Field(default=None, description="fnmatch patterns; default: every table")

    @property
    def cooldown_seconds(self) -> float:
        return _seconds(self.cooldown)


class MonitoringSettings(_Model):
    drift: DriftSettings = Field(default_factory=DriftSettings)
    schedules: list[ScheduleSettings] = Field(default_factory=list)
    anomaly: AnomalySettings = Field(default_factory=AnomalySettings)
    notifiers: dict[str, Notifier] = Field(default_factory=dict)
    rules: list[AlertRule] = Field(default_factory=list)
    alert_interval: Duration = Field(default="60s", description="time between alert sensor evaluations")

    @property
    def alert_interval_seconds(self) -> int:
        return max(1, int(_seconds(self.alert_interval)))

    @model_validator(mode="after")
    def _references(self) -> MonitoringSettings:
        names: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.name in names:
                raise ValueError(f"rules[{index}]: rule name {rule.name!r} is used twice")
            names.add(rule.name)
            for notifier in rule.notify:
                if notifier not in self.notifiers:
                    known = ", ".join(sorted(self.notifiers)) or "none defined"
                    raise ValueError(f"rules[{index}].notify: unknown notifier {notifier!r} (known: {known})")
        schedule_names = [schedule.name for schedule in self.schedules]
        if len(set(schedule_names)) != len(schedule_names):
            raise ValueError("schedules: schedule names must be unique")
        return self


def location_text(loc: tuple[int | str, ...]) -> str:
    text = "monitoring"
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def parse_monitoring(data: dict[str, Any] | None, *, file: str) -> MonitoringSettings:
    """Validate the ``monitoring:`` section. Raises SpecError naming ``file`` and the key path."""
    return parse_section(MonitoringSettings, data, file=file, section="monitoring")


def duration_seconds(value: str | float | int) -> float:
    """Seconds in a spec duration ('5s', '2h', or a number)."""
    return _seconds(value)


def as_timedelta(value: str | float | int) -> dt.timedelta:
    return parse_duration(value)
