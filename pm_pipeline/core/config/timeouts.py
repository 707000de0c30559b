"""How long pm-pipeline waits for a database: the spec's ``timeouts`` of each connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


@dataclass(frozen=True)
class Timeouts:
    """How long a connector waits, in seconds; 0 waits without limit.

    ``connect`` bounds opening a connection. ``statement`` bounds one statement: the server ends it
    (PostgreSQL ``statement_timeout``, MariaDB ``max_statement_time``, MySQL ``max_execution_time``)
    and embedded engines are interrupted. ``idle`` is the client's own limit for a server that
    answers nothing at all: a frozen server or a network that drops packets fires no server-side
    timeout, and its kernel still answers TCP keepalives. A statement's first answer may take
    ``statement + idle``; the next batch of a stream, ``idle``. ``lock`` bounds the wait for a
    table lock another session holds (PostgreSQL ``lock_timeout``, MariaDB ``lock_wait_timeout``
    and ``innodb_lock_wait_timeout``), so a check never queues behind a production lock for long."""

    connect: float = 10.0
    statement: float = 3600.0
    idle: float = 300.0
    lock: float = 10.0

    @property
    def first_answer(self) -> float | None:
        """The longest wait for a statement's first answer, or None (no limit)."""
        if not self.idle:
            return None
        return self.statement + self.idle if self.statement else None

    @property
    def next_answer(self) -> float | None:
        """The longest wait for the next batch of a stream, or None (no limit)."""
        return self.idle or None


DEFAULT_TIMEOUTS = Timeouts()


_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_seconds(value: Any) -> float:
    """'500ms', '10s', '5m', '1h', a number of seconds, or 0 / 'none' for no limit."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '10s', '5m' or 0 for none, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip().lower() in {"none", "0"}:
        seconds = 0.0
    else:
        text = str(value).strip().lower()
        unit = next((u for u in ("ms", "s", "m", "h") if text.endswith(u)), None)
        try:
            seconds = float(text[: -len(unit)]) * _UNITS[unit] if unit else float(text)
        except ValueError:
            raise ValueError(
                f"expected a duration such as '10s', '500ms', '5m', '1h' or 0 for none, got {value!r}"
            ) from None
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(f"expected a duration of 0 (no limit) or more, got {value!r}")
    return seconds


class TimeoutSettings(BaseModel):
    """``connect``: opening a connection; ``statement``: one statement (the server ends it, an
    embedded engine is interrupted); ``idle``: how long beyond that a server that answers nothing
    at all (frozen, or behind a dead network) is waited for; ``lock``: how long a read waits for a
    lock another session holds. 0 means no limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connect: float = Field(default=Timeouts.connect, description="seconds to open a connection")
    statement: float = Field(default=Timeouts.statement, description="seconds one statement may run")
    idle: float = Field(
        default=Timeouts.idle, description="seconds of silence from a server before giving up"
    )
    lock: float = Field(default=Timeouts.lock, description="seconds a read waits for another session's lock")

    @field_validator("connect", "statement", "idle", "lock", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_seconds(value)

    def limits(self) -> Timeouts:
        return Timeouts(connect=self.connect, statement=self.statement, idle=self.idle, lock=self.lock)
