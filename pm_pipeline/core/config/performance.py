"""The spec's ``performance:`` section: a workload of queries timed, explained and compared on both
sides (see :mod:`pm_pipeline.core.perf`)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pm_pipeline.core.config.durations import parse_duration

# ``:name`` not part of a PostgreSQL cast (``x::int``) or a word; quoted text is skipped first.
PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
# Quoted text and identifiers, and comments, where a colon is no parameter.
QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`|--[^\n]*|/\*.*?\*/", re.DOTALL)
MAX_REPETITIONS = 10_000
CRON = re.compile(
    r"(?:[\d*/,\-A-Za-z?LW#]+\s+){4}[\d*/,\-A-Za-z?LW#]+|@(?:hourly|daily|weekly|monthly|yearly)"
)


def named_parameters(sql: str) -> list[str]:
    """The ``:name`` parameters of ``sql`` in order of appearance (repeats included)."""
    return [match.group(1) for match in parameter_matches(sql)]


def parameter_matches(sql: str) -> list[re.Match[str]]:
    """Matches of :data:`PARAMETER` outside quoted text and comments."""
    blanked = QUOTED.sub(lambda match: " " * len(match.group(0)), sql)
    return list(PARAMETER.finditer(blanked))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: str | float | int) -> str | float | int:
    seconds = parse_duration(value).total_seconds()
    if seconds <= 0:
        raise ValueError(f"expected a positive duration, got {value!r}")
    return value


class Sample(_Model):
    """Parameter values drawn from real rows: a query run on one side whose column names are the
    parameter names; its first ``size`` rows are the values (add ORDER BY random() for a random draw)."""

    sql: str = Field(min_length=1)
    side: Literal["source", "target"] = "source"
    size: int = Field(default=10, ge=1, le=1000)


class WorkloadQuery(_Model):
    """One query of the workload, run with the same parameter values on both sides."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    sql: str | None = Field(default=None, min_length=1, description="the query, :named parameters")
    source_sql: str | None = Field(default=None, min_length=1, description="the source's dialect")
    target_sql: str | None = Field(default=None, min_length=1, description="the target's dialect")
    params: dict[str, Any] = Field(default_factory=dict, description="parameter -> value")
    sample: Sample | None = None

    @model_validator(mode="after")
    def _one_query_per_side(self) -> WorkloadQuery:
        if self.sql is None and (self.source_sql is None or self.target_sql is None):
            raise ValueError("give 'sql', or both 'source_sql' and 'target_sql'")
        if self.sql is not None and self.source_sql is not None and self.target_sql is not None:
            raise ValueError("'sql' is used by no side when both 'source_sql' and 'target_sql' are given")
        if self.params and self.sample is not None:
            raise ValueError("give 'params' or 'sample', not both")
        if self.sample is None:
            for side in (self.source, self.target):
                missing = sorted(set(named_parameters(side)) - set(self.params))
                if missing:
                    raise ValueError(
                        f"parameter(s) {', '.join(':' + n for n in missing)} have no value in 'params'"
                    )
        return self

    @property
    def source(self) -> str:
        return self.source_sql or self.sql or ""

    @property
    def target(self) -> str:
        return self.target_sql or self.sql or ""


class Capture(_Model):
    """The source's own statement statistics (pg_stat_statements, performance_schema digests)."""

    top: int = Field(default=20, ge=1, le=1000)


class PerformanceSettings(_Model):
    """How the workload runs and what counts as a regression."""

    workload: list[WorkloadQuery] = Field(default_factory=list)
    capture: Capture | None = None
    repetitions: Literal["auto"] | int = Field(
        default="auto",
        description="timed runs per side; auto: until the median is known to 5%, at most max_repetitions",
    )
    max_repetitions: int = Field(default=60, ge=3, le=MAX_REPETITIONS)
    warmup: int = Field(default=3, ge=0, le=100, description="untimed runs per side first")
    regression_ratio: float = Field(
        default=2.0, gt=1.0, description="target median / source median: its whole 95% interval above this"
    )
    min_slowdown: str | float = Field(
        default="1ms",
        description="and the target's median slower by more than this (sub-millisecond noise is no regression)",
    )
    significance: float = Field(
        default=0.01, gt=0, lt=0.5, description="the rank test's p-value must be below"
    )
    plan_cost_ratio: float = Field(
        default=10.0, gt=1.0, description="same engine: target cost / source cost above this"
    )
    statement_timeout: str | float = Field(
        default="30s", description="per statement, where the engine has one"
    )
    schedule: str | None = Field(
        default=None, description="cron expression: the Dagster schedule that runs the workload"
    )
    allow_hypopg: bool = Field(
        default=False, description="may create (and then drop) the hypopg extension on a PostgreSQL target"
    )

    @field_validator("repetitions", mode="before")
    @classmethod
    def _repetitions(cls, value: Any) -> Any:
        if value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not 3 <= value <= MAX_REPETITIONS:
            raise ValueError(
                f"expected 'auto' or a whole number of runs from 3 to {MAX_REPETITIONS}, got {value!r}"
            )
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and not CRON.fullmatch(value.strip()):
            raise ValueError(f"expected a cron expression of five fields such as '0 * * * *', got {value!r}")
        return value

    @field_validator("statement_timeout", "min_slowdown")
    @classmethod
    def _durations(cls, value: str | float) -> str | float:
        _duration(value)
        return value

    @model_validator(mode="after")
    def _something_to_run(self) -> PerformanceSettings:
        if not self.workload and self.capture is None:
            raise ValueError(
                "no queries: list them under 'workload', or take the source's top ones with 'capture'"
            )
        names = [query.name for query in self.workload]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"workload name(s) given twice: {', '.join(twice)}")
        return self

    @property
    def timeout(self) -> dt.timedelta:
        return parse_duration(self.statement_timeout)

    @property
    def min_slowdown_seconds(self) -> float:
        return parse_duration(self.min_slowdown).total_seconds()
