"""The generated expectations' source profile, measured on the reconciliation's own read.

Where the reconciliation reads a MariaDB/MySQL source's whole table into this process (the arrow
strategy, which those sources always get unless a strategy is forced), the profile's first
statement (:func:`.profile.profile_sql`: aggregates of the whole table beside its first
``SAMPLE_ROWS`` rows) would make the server scan the table a second time, and MariaDB spends
about as long on those aggregates as on sending the rows. :class:`ReadProfile` sees the same rows
on their way (a tap on the source's batches) and answers that statement itself, value for value
what the server returns: rows and values counted, zero dates counted where they count as NULL,
the extremes of integers and decimals, the lengths of text in characters, and the distinct values
and duplicates of the first rows read (any rows make a sample: see :mod:`.profile`).

It answers only what it measures exactly as the SQL does. Each column's SQL (what counts as
NULL, its canonical text, its distinct values) must be one of the forms below, and each batch
column must arrive in the type that form reads; any other column, a value it cannot read, or a
read that did not cover the whole table leaves the statement to the database, as before:

- NULL: ``col IS NULL``, or a zero date as well for a DATETIME/TIMESTAMP read as the number
  YYYYMMDDhhmmss (zero exactly below 1,000,000, as :meth:`MySqlDialect.is_zero_date` states it)
  or a DATE read as its text YYYY-MM-DD (zero exactly as ``0000-00-00``), or a DATETIME read as its
  text (a key, fractional seconds, another family: zero when it starts with ``0000-00-00``);
- extremes of an integer column (read as integers), a decimal one (read as its text, compared as
  decimals), a DATETIME read as that number or a DATE read as that text (none of a DATETIME read
  as text);
- lengths: ``CHAR_LENGTH(CONVERT(col USING utf8mb4))``, the code points of the text as read;
- distinct values: the bytes of that same text, an integer or decimal value, or the number or
  text a date (and time) is read as.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import TableSchema, TypeFamily
from pm_pipeline.core.findings import SideDigest
from pm_pipeline.core.integrity.profile import (
    SAMPLE_ROWS,
    Eligible,
    held_unique,
    profile_sql,
    sampled_columns,
)
from pm_pipeline.core.integrity.sql_expectations import absent, distinct_value, length_value, present_value
from pm_pipeline.core.reconcile.planning import TablePlan
from pm_pipeline.core.reconcile.sqlhash import dialect_of

F = TypeFamily
Rows = list[tuple[Any, ...]]
Kind = Literal["int", "decimal", "text", "packed", "day", "stamptext"]
ENGINES = ("mysql",)
_INSTANTS = (F.TIMESTAMP, F.TIMESTAMPTZ)
_ZERO_BELOW = 1_000_000  # YYYYMMDDhhmmss below this: the date part is 0000-00-00
_DATED = ("packed", "day", "stamptext")
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_ZERO_DAY = "0000-00-00"  # a DATE as its text: zero exactly when its number (YYYYMMDD) is


class Unmeasured(Exception):
    """A column or value this profile cannot measure as the SQL does: the SQL runs instead."""


@dataclass(frozen=True)
class _Column:
    """What the statement's seven aggregates of one column need from its batches."""

    name: str
    zero_dates: Kind | None  # zero dates count as NULL: of a packed date and time, or of a day
    extremes: Kind | None
    lengths: bool


@dataclass(frozen=True)
class _Sampled:
    """What the sample's three aggregates of one column need."""

    name: str
    kind: Kind
    values: bool  # its values counted (a uniqueness candidate)
    present: bool  # its present values' duplicates counted (zero dates as NULL)


class ReadProfile:
    """The profile statement of one table, answered from the batches of the source's whole read.

    :meth:`tap` is the source's batch tap; :meth:`finish` marks the read complete; :meth:`execute`
    then hands the answer to the first caller asking for the statement (``connector.execute``
    otherwise, or when the read did not complete)."""

    def __init__(
        self, connector: Connector, sql: str, columns: list[_Column], sampled: list[_Sampled]
    ) -> None:
        self.connector, self.sql = connector, sql
        self._columns, self._sampled = columns, sampled
        self.handed_over = False
        self._lock = threading.Lock()
        self._tapped: _Tap | None = None
        self._answer: tuple[Any, ...] | None = None

    @classmethod
    def for_table(
        cls,
        source: Connector,
        table: str,
        eligible: Sequence[Eligible],
        source_schema: TableSchema | None = None,
    ) -> ReadProfile | None:
        """The profile of ``table`` if every eligible column is one it measures, else None."""
        if source.engine not in ENGINES or not eligible:
            return None
        held = held_unique(source_schema)
        unique, _, sampled = sampled_columns(eligible, held)
        try:
            columns = [_column(source, item) for item in eligible]
            samples = [_sample(source, eligible[i], values=i in unique) for i in sampled]
        except Unmeasured:
            return None
        if any(s.kind in _DATED for s in samples) and "NO_ZERO_IN_DATE" in _sql_mode(source):
            return None  # the session's COUNT(DISTINCT) then merges dates with a zero month or day
        return cls(source, profile_sql(source, table, eligible, held), columns, samples)

    def tap(self) -> _Tap:
        """A fresh tap for the source's batches (a new read starts over)."""
        tap = _Tap(self._columns, self._sampled)
        with self._lock:
            self._tapped, self._answer = tap, None
        return tap

    def finish(self) -> None:
        """The read the tap saw covered the whole table: its answer stands (if it measured every value)."""
        with self._lock:
            tap, self._tapped = self._tapped, None
        answer = None if tap is None else tap.answer()
        with self._lock:
            self._answer = answer

    def execute(self, sql: str, params: Any = ()) -> Rows:
        """The measured answer if ``sql`` is the profile statement and no caller took it yet, else
        ``sql`` run on the connector."""
        with self._lock:
            answer = self._answer if sql == self.sql and not params else None
            if answer is not None:
                self._answer = None
        if answer is not None:
            self.handed_over = True
            return [answer]
        return self.connector.execute(sql, params)

    def close(self) -> None:
        with self._lock:
            self._tapped, self._answer = None, None

    def __enter__(self) -> ReadProfile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Tap:
    """Aggregates of one read of the source's table, batch by batch (``BatchTap``)."""

    def __init__(self, columns: list[_Column], sampled: list[_Sampled]) -> None:
        self._columns, self._sampled = columns, sampled
        self._rows = 0
        self._counts = [0] * len(columns)
        self._missing = [0] * len(columns)
        self._low: list[Any] = [None] * len(columns)
        self._high: list[Any] = [None] * len(columns)
        self._short: list[int | None] = [None] * len(columns)
        self._long: list[int | None] = [None] * len(columns)
        self._first: list[pa.RecordBatch] = []  # the sample: the first SAMPLE_ROWS rows read
        self._first_rows = 0
        self._sample_counts: list[int] | None = None  # its three counts per column, once complete
        self._failed = False

    def observe(self, batch: pa.RecordBatch) -> None:
        if self._failed:
            return
        try:
            self._observe(batch)
        except Exception:  # never into the reconciliation: the statement runs in SQL instead
            self._failed = True

    def digest(self) -> SideDigest | None:
        return None

    def _observe(self, batch: pa.RecordBatch) -> None:
        self._rows += batch.num_rows
        for i, column in enumerate(self._columns):
            raw = batch.column(column.name)
            self._counts[i] += len(raw) - raw.null_count
            if column.zero_dates is not None:
                self._missing[i] += raw.null_count + _count(_zero(raw, column.zero_dates))
            if column.extremes is not None:
                values = _comparable(raw, column.extremes)
                if column.zero_dates is not None:
                    values = pc.if_else(_zero(raw, column.zero_dates), pa.scalar(None, values.type), values)
                low, high = _min_max(values)
                self._low[i] = _lower(self._low[i], low)
                self._high[i] = _higher(self._high[i], high)
            if column.lengths:
                short, long = _min_max(pc.utf8_length(_text(raw)))
                self._short[i] = _lower(self._short[i], short)
                self._long[i] = _higher(self._long[i], long)
        if self._sample_counts is None and self._sampled:
            kept = batch.slice(0, SAMPLE_ROWS - self._first_rows)
            self._first.append(kept.select([s.name for s in self._sampled]))
        self._first_rows = min(SAMPLE_ROWS, self._first_rows + batch.num_rows)
        if self._first_rows == SAMPLE_ROWS:
            self._count_sample()  # the sample is complete: its batches are let go at once

    def _count_sample(self) -> None:
        if self._sample_counts is None:
            self._sample_counts = [
                n
                for j, sampled in enumerate(self._sampled)
                for n in _sample_counts(sampled, [b.column(j) for b in self._first])
            ]
            self._first = []

    def answer(self) -> tuple[Any, ...] | None:
        """The statement's one row, as :func:`.profile.profile_sql` lays it out (None if failed)."""
        if self._failed:
            return None
        try:
            row: list[Any] = [self._rows]
            for i, column in enumerate(self._columns):
                # values, NULL-like values (NULL where only NULL counts), unbounded (MySQL: none),
                # extremes, lengths: NULL where the SQL asks for none.
                row += [self._counts[i], None if column.zero_dates is None else self._missing[i], None]
                low, high = self._low[i], self._high[i]
                if column.extremes == "packed":
                    low, high = _instant(low), _instant(high)
                elif column.extremes == "day":
                    low, high = _day(low), _day(high)
                row += [low, high, self._short[i], self._long[i]]
            row.append(self._first_rows)
            self._count_sample()  # a table smaller than the sample: all of it
            row += self._sample_counts or []
        except Exception:  # a value it cannot measure: the statement runs in SQL
            return None
        return tuple(row)


def tapping(
    profile: ReadProfile, other: Callable[[TablePlan, str], Any] | None
) -> Callable[[TablePlan, str], Any]:
    """A ``ReconcileOptions.digest_tap`` that adds ``profile``'s tap to the source's (``other``:
    the checksum taps, kept as they are; the source's digest is theirs)."""

    def factory(plan: TablePlan, side: str) -> Any:
        own = other(plan, side) if other is not None else None
        if side != "source":
            return own
        return _Both(profile.tap(), own)

    return factory


class _Both:
    def __init__(self, profile: _Tap, other: Any) -> None:
        self._profile, self._other = profile, other

    def observe(self, batch: pa.RecordBatch) -> None:
        self._profile.observe(batch)
        if self._other is not None:
            self._other.observe(batch)

    def digest(self) -> SideDigest | None:
        return None if self._other is None else self._other.digest()


# -- what a column's SQL asks for, and whether it is a known form ------------------------------


def _column(source: Connector, item: Eligible) -> _Column:
    plan = item.plan
    column = plan.source
    quoted = source.quote(column.name)
    gone = absent(source, plan, "source")
    if source.dialect.unreadable_infinity:
        raise Unmeasured(column.name)
    dated = _dated(source, item)
    zero_dates = None
    if gone != f"{quoted} IS NULL":
        if (
            dated is None
            or gone != f"({quoted} IS NULL OR {source.dialect.is_zero_date(quoted, column.family)})"
        ):
            raise Unmeasured(column.name)
        zero_dates = dated
    extremes: Kind | None = None
    if item.range:
        if column.family in (F.TIMESTAMP, F.DATE) and dated in ("packed", "day"):
            # zero dates (NULL here) aside, YYYYMMDDhhmmss and YYYY-MM-DD order as time does
            extremes = dated
        elif zero_dates or column.family not in (F.INTEGER, F.DECIMAL):
            raise Unmeasured(column.name)
        else:
            extremes = "int" if column.family is F.INTEGER else "decimal"
    lengths = False
    if item.length and length_value(source, plan, "source"):
        if zero_dates or length_value(source, plan, "source") != source.dialect.char_length(
            _plain(source, quoted)
        ):
            raise Unmeasured(column.name)
        lengths = True
    return _Column(column.name, zero_dates=zero_dates, extremes=extremes, lengths=lengths)


def _sample(source: Connector, item: Eligible, *, values: bool) -> _Sampled:
    plan = item.plan
    column = plan.source
    quoted = source.quote(column.name)
    value = distinct_value(source, plan, "source") or quoted
    kind: Kind
    if plan.family in (F.TEXT, F.UUID):
        if value != source.dialect.bytewise(_plain(source, quoted)):
            raise Unmeasured(column.name)
        kind = "text"
    elif value != quoted:
        raise Unmeasured(column.name)
    elif column.family is F.INTEGER:
        kind = "int"
    elif column.family is F.DECIMAL:
        kind = "decimal"
    elif (dated := _dated(source, item)) is not None:
        kind = dated
    else:
        raise Unmeasured(column.name)
    present = values and absent(source, plan, "source") != f"{quoted} IS NULL"
    if present and (
        kind not in _DATED
        or present_value(source, plan, "source")
        != f"CASE WHEN {absent(source, plan, 'source')} THEN NULL ELSE {quoted} END"
    ):
        raise Unmeasured(column.name)
    return _Sampled(column.name, kind=kind, values=values, present=present)


def _dated(source: Connector, item: Eligible) -> Kind | None:
    """How the reconciliation reads a date or a date and time column: as the number
    YYYYMMDDhhmmss (``packed``), as a DATE's text YYYY-MM-DD (``day``), or neither (None)."""
    column = item.plan.source
    if _packed(source, item):
        return "packed"
    if (
        column.family is F.DATE
        and source.select_expression(column) == f"CAST({source.quote(column.name)} AS CHAR)"
    ):
        return "day"  # read so by SideReader.select whatever the pair: a DATE has no compact form
    if (
        column.family in _INSTANTS
        and source.select_expression(column) == f"CAST({source.quote(column.name)} AS CHAR)"
    ):
        # Not read as a number: a key, a pair compared in another family (DATETIME -> timestamptz),
        # a value map, fractional seconds. Its text YYYY-MM-DD hh:mm:ss[.f]: zero dates and
        # distinct values by text; no extremes.
        return "stamptext"
    return None


def _packed(source: Connector, item: Eligible) -> bool:
    """Whether the reconciliation reads the column as the number YYYYMMDDhhmmss: a value column it
    compares in its own family with no value map (``SideReader.select``), whose compact form is
    that number (``MySqlConnector.compact_expression``: a DATETIME or TIMESTAMP without
    fractions). Each batch is checked too."""
    plan, column = item.plan, item.plan.source
    if item.key or plan.family is not column.family or plan.rule.value_map:
        return False
    return source.compact_expression(column) == f"CAST({source.quote(column.name)} + 0 AS UNSIGNED)"


def _plain(source: Connector, quoted: str) -> str:
    dialect = dialect_of(source.engine)
    if dialect is None:
        raise Unmeasured(quoted)
    return dialect.plain_text(quoted)


# -- measuring ----------------------------------------------------------------------------------


def _sample_counts(sampled: _Sampled, chunks: list[pa.Array]) -> list[int]:
    """COUNT(DISTINCT value), COUNT(value) if counted, present duplicates if counted."""
    values = pa.concat_arrays(chunks) if chunks else pa.array([], pa.null())
    if sampled.kind in _DATED and len(values) and _count(_not_a_day(values, sampled.kind)):
        # A zero month or day ('2020-00-00') or a day past its month's end ('2020-02-31'): how the
        # server counts such dates apart depends on its sql_mode (NO_ZERO_IN_DATE merges the first,
        # the present value's CASE turns the second into a zero date); its own count holds.
        raise Unmeasured("a date that is no calendar day in the sample")
    comparable = _comparable(values, sampled.kind) if len(values) else values
    distinct = _distinct(comparable)
    counted = len(values) - values.null_count if sampled.values else 0
    duplicates = 0
    if sampled.present and len(values):
        present = pc.if_else(_zero(values, sampled.kind), pa.scalar(None, comparable.type), comparable)
        duplicates = (len(present) - present.null_count) - _distinct(present)
    return [distinct, counted, duplicates]


def _comparable(raw: pa.Array, kind: Kind) -> pa.Array:
    """Values as the SQL compares them: integers, decimals (from their text), or text's bytes."""
    if kind in ("int", "packed"):
        return _integers(raw)
    if kind in ("text", "day", "stamptext"):
        return _text(raw)
    return _decimals(raw)


def _zero(raw: pa.Array, kind: Kind) -> pa.Array:
    """Which values are zero dates, as the SQL tells them (``(d + 0) < 1`` / ``< 1000000``)."""
    if kind == "packed":
        return pc.less(_integers(raw), _ZERO_BELOW)
    if kind == "stamptext":
        return pc.starts_with(_text(raw), _ZERO_DAY)  # the date part is zero: (d + 0) < 1000000
    return pc.equal(_text(raw), _ZERO_DAY)


def _not_a_day(raw: pa.Array, kind: Kind) -> pa.Array:
    """Dates (and times), not zero dates, whose date part is no calendar day: a zero month or day
    ('2020-00-00'), or a day past its month's end ('2020-02-31', stored under ALLOW_INVALID_DATES)."""
    if kind == "packed":
        day = (
            np.asarray(pc.fill_null(_integers(raw), 0).to_numpy(zero_copy_only=False), np.int64)
            // _ZERO_BELOW
        )
        year, month, dom = day // 10_000, day // 100 % 100, day % 100
        zero = day == 0
    else:
        text = pc.fill_null(_text(raw), _ZERO_DAY)
        parts = [pc.utf8_slice_codeunits(text, a, b) for a, b in ((0, 4), (5, 7), (8, 10))]
        year, month, dom = (
            np.asarray(pc.cast(part, pa.int64()).to_numpy(zero_copy_only=False)) for part in parts
        )
        zero = np.asarray(pc.starts_with(text, _ZERO_DAY).to_numpy(zero_copy_only=False), bool)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    length = np.asarray(_MONTH_DAYS)[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)
    bad = (month < 1) | (month > 12) | (dom < 1) | (dom > length)
    return pa.array(bad & ~zero)


def _sql_mode(source: Connector) -> str:
    rows = source.execute("SELECT @@SESSION.sql_mode")
    return str(rows[0][0] or "") if rows else ""


def _day(text: str | None) -> dt.date | None:
    """A DATE's text YYYY-MM-DD as the date the driver returns for it."""
    if text is None:
        return None
    if len(text) != 10 or text == _ZERO_DAY:
        raise Unmeasured("not a plain date")
    return dt.date(int(text[:4]), int(text[5:7]), int(text[8:10]))


def _integers(raw: pa.Array) -> pa.Array:
    if not pa.types.is_integer(raw.type):
        raise Unmeasured(f"integers read as {raw.type}")
    return raw


def _text(raw: pa.Array) -> pa.Array:
    if not (pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type)):
        raise Unmeasured(f"text read as {raw.type}")
    return raw


def _decimals(raw: pa.Array) -> pa.Array:
    """A decimal column's text ('12.50', '-3', as the server writes it) as decimal values."""
    if pa.types.is_decimal(raw.type):
        return raw
    text = _text(raw)
    first = pc.drop_null(text)
    if not len(first):
        return pa.nulls(len(raw), pa.decimal256(76, 0))
    sample = str(first[0].as_py())
    scale = len(sample) - sample.index(".") - 1 if "." in sample else 0
    # Every value of a column has the column's scale; one with more digits fails the cast.
    return pc.cast(text, pa.decimal256(76, scale))


def _instant(packed: int | None) -> dt.datetime | None:
    """A date and time read as the number YYYYMMDDhhmmss, as the driver returns the column's value."""
    if packed is None:
        return None
    if packed < _ZERO_BELOW:
        raise Unmeasured("a zero date")  # what the driver makes of one is the driver's business
    day, time = divmod(packed, 1_000_000)
    return dt.datetime(
        day // 10_000, day // 100 % 100, day % 100, time // 10_000, time // 100 % 100, time % 100
    )


def _distinct(values: pa.Array) -> int:
    return int(pc.count_distinct(values, mode="only_valid").as_py()) if len(values) else 0


def _count(mask: pa.Array) -> int:
    return int(pc.sum(mask.cast(pa.int64())).as_py() or 0)


def _min_max(values: pa.Array) -> tuple[Any, Any]:
    if not len(values):
        return None, None
    extremes = pc.min_max(values)
    return extremes["min"].as_py(), extremes["max"].as_py()


def _lower(current: Any, found: Any) -> Any:
    return found if current is None else current if found is None else min(current, found)


def _higher(current: Any, found: Any) -> Any:
    return found if current is None else current if found is None else max(current, found)
