"""Column value profiles (a few aggregates per column) and how alike two profiles are.

A profile is what rename suggestion and unbounded-text narrowing checks know about a column's
data: never the rows themselves, only counts, lengths, extremes and the most frequent values.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from dataclasses import dataclass
from typing import Any

from pm_pipeline.core.connectors.schema import TypeFamily


@dataclass(frozen=True)
class ColumnProfile:
    """Aggregates of one column. Values are canonical text (see :func:`value_text`) so that a
    profile from MariaDB and one from PostgreSQL compare equal when they hold the same data."""

    family: TypeFamily
    rows: int
    nulls: int = 0
    distinct: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_value: str | None = None
    max_value: str | None = None
    top_values: tuple[str, ...] = ()  # most frequent first
    sampled_rows: int | None = None  # rows that distinct and top_values were taken from; None: all

    @property
    def null_fraction(self) -> float:
        return 0.0 if self.rows == 0 else self.nulls / self.rows

    @property
    def values_complete(self) -> bool:
        """True when ``top_values`` holds every distinct non-null value of the whole column."""
        whole = self.sampled_rows is None or self.sampled_rows >= self.rows
        return whole and self.distinct is not None and self.distinct <= len(self.top_values)


def value_text(value: Any, family: TypeFamily | None = None) -> str | None:
    """A driver value as engine-independent text: 12.50 and Decimal('12.5') both give '12.5'."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if family is TypeFamily.BOOLEAN and isinstance(value, int) and value in (0, 1):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value):
            return str(int(value))
        return repr(value)
    if isinstance(value, decimal.Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return str(int(value))
        return str(format(value.normalize(), "f"))
    if isinstance(value, dt.datetime):
        moment: dt.datetime = value
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        return moment.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


_COMPATIBLE_FAMILIES = (
    {TypeFamily.INTEGER, TypeFamily.DECIMAL, TypeFamily.FLOAT, TypeFamily.BOOLEAN},
    {TypeFamily.TEXT, TypeFamily.ENUM, TypeFamily.SET, TypeFamily.UUID, TypeFamily.JSON},
    {TypeFamily.DATE, TypeFamily.TIMESTAMP, TypeFamily.TIMESTAMPTZ},
)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    if a == b:
        return 1.0
    high = max(abs(a), abs(b))
    return 1.0 - abs(a - b) / high


def profile_similarity(a: ColumnProfile, b: ColumnProfile) -> float | None:
    """How likely two profiles describe the same data, from 0 (unrelated) to 1 (indistinguishable);
    None when either side has no rows (no evidence either way).

    Families that cannot hold each other's values score 0. Otherwise the score averages the
    parts both profiles know: null fraction, distinct count, length range, extremes and the
    overlap of the most frequent values (the strongest evidence, weighted double).
    """
    if a.rows == 0 or b.rows == 0:
        return None
    if a.family != b.family and not any(a.family in s and b.family in s for s in _COMPATIBLE_FAMILIES):
        return 0.0
    parts: list[tuple[float, float]] = []  # (score, weight)
    parts.append((1.0 - abs(a.null_fraction - b.null_fraction), 1.0))
    distinct = _ratio(a.distinct, b.distinct)
    if distinct is not None:
        parts.append((distinct, 1.0))
    if a.max_length is not None and b.max_length is not None:
        low = _ratio(a.min_length, b.min_length)
        high = _ratio(a.max_length, b.max_length)
        parts.append((((low if low is not None else 1.0) + (high if high is not None else 1.0)) / 2, 1.0))
    if a.min_value is not None and b.min_value is not None:
        same = (a.min_value == b.min_value) + (a.max_value == b.max_value)
        parts.append((same / 2, 1.0))
    if a.top_values and b.top_values:
        left, right = set(a.top_values), set(b.top_values)
        parts.append((len(left & right) / len(left | right), 2.0))
    total = sum(weight for _, weight in parts)
    return sum(score * weight for score, weight in parts) / total
