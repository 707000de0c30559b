# Over 300 lines: the profile's statements and the reading of their one result row belong together.
"""The source's profile that generated expectations are drawn from, in two or three statements.

1. One statement: an aggregate scan of the whole table (rows, NULLs, ranges, lengths) beside an
   aggregate of its first ``SAMPLE_ROWS`` rows (distinct values and duplicates per column). Which
   rows the database hands out first does not matter: a duplicate, or more distinct values than a
   value set may hold, among any of them disproves uniqueness or a set for the whole table; and
   when fewer rows come back, the sample is the table and its counts are exact.
2. For the columns whose distinct values may form a set, one grouped query fetching at most
   ``value_set_max + 1`` of them per column: more than that is no set. None for the columns whose
   distinct values the reconciliation's reading pass kept (few, where only NULL counts as NULL).
3. Columns the sample saw no duplicate in are settled by the reconciliation's count of their
   repeated values where its reading pass held the whole table (no statement), else counted whole
   by the source check that follows (the same count), or, where a declared rule makes more than
   NULL count as NULL, by one more scan.

A unique key the source's schema declares (one column, neither text nor UUID: the canonical value
is the column itself) holds without a count. Not-null, uniqueness and length expectations come out
of these counts with the very predicates the source check would run, so they hold by construction;
so do ranges of integers, decimals and dates, and value sets, read exactly on PostgreSQL, MariaDB/MySQL
and DuckDB. Other ranges (timestamps, floats) and SQLite's pass through drivers and parameters
that may round them, and are checked on the source again.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import TableSchema, TypeFamily
from pm_pipeline.core.integrity.sql_expectations import (
    GeneratedExpectation,
    absent,
    canonical_text,
    comparable,
    distinct_value,
    held_by_key,
    length_value,
    only_null,
    present_value,
)

F = TypeFamily
Execute: TypeAlias = Callable[[str], list[tuple[Any, ...]]]
SAMPLE_ROWS = 50_000
SURE_SURPLUS = 3  # repeated hashes that are taken as duplicates without a second count
_TEMPORAL = {F.DATE, F.TIMESTAMP, F.TIMESTAMPTZ}
_PRECISION = {"s": dt.timedelta(seconds=1), "ms": dt.timedelta(milliseconds=1), "us": dt.timedelta(0)}


class Eligible(Protocol):
    """Which expectations one column pair may get."""

    plan: ColumnPlan
    key: bool  # a key column of the table

    @property
    def not_null(self) -> bool: ...
    @property
    def unique(self) -> bool: ...
    @property
    def in_set(self) -> bool: ...
    @property
    def length(self) -> bool: ...
    @property
    def range(self) -> bool: ...


@dataclass(frozen=True)
class Candidate:
    """A generated expectation and whether the source must still be checked against it."""

    expectation: GeneratedExpectation
    proven: bool


def held_unique(schema: TableSchema | None) -> frozenset[str]:
    """Columns the database holds to distinct values on their own (primary key, unique constraint)."""
    if schema is None:
        return frozenset()
    keys = [schema.primary_key, *(u.columns for u in schema.unique_constraints)]
    return frozenset(key[0] for key in keys if len(key) == 1)


def profile_candidates(
    source: Connector,
    table: str,
    eligible: Sequence[Eligible],
    value_set_max: int,
    held: Collection[str] = (),
    *,
    repeats: Mapping[str, int] | None = None,
    known_values: Mapping[str, tuple[str, ...]] | None = None,
    execute: Execute | None = None,
) -> list[Candidate]:
    """The candidate expectations, in column order, value sets last. ``repeats``: the repeated
    values of columns (by source name) as the reconciliation counted them over the whole table;
    ``known_values``: the distinct present values it read of the columns holding few (canonical text);
    ``execute`` runs the first statement (:func:`profile_sql`; default: ``source.execute``), e.g.
    handing over its answer from a connection that ran it earlier."""
    unique, sets, in_sample = sampled_columns(eligible, held)
    full = _whole_table_parts(source, eligible)
    row = (execute or source.execute)(profile_sql(source, table, eligible, held))[0]
    rows, sampled = int(row[0]), int(row[len(full)] or 0)
    if rows == 0:
        return []
    exact = sampled < SAMPLE_ROWS  # the sample held every row
    duplicates: dict[int, bool] = {}
    distinct: dict[int, int] = {}
    for position, index in enumerate(in_sample):
        different, values, surplus = row[len(full) + 1 + 3 * position : len(full) + 4 + 3 * position]
        distinct[index] = int(different or 0)
        duplicates[index] = _any(int(values or 0) - distinct[index], surplus)
    # The sample saw no duplicate in a column: its whole is counted where the source check counts
    # the same thing (present values as written), or by one more scan.
    unsettled = [i for i in unique if not duplicates[i] and not exact]
    settled = _settled_by_repeats(source, eligible, unsettled, repeats or {})
    duplicates.update(settled)
    unsettled = [i for i in unsettled if i not in settled]
    checked = {i for i in unsettled if _present_as_written(source, eligible[i])}
    if set(unsettled) - checked:
        duplicates.update(_count_duplicates(source, table, eligible, sorted(set(unsettled) - checked)))
    found: list[Candidate] = []
    set_items: list[Eligible] = []
    for index, item in enumerate(eligible):
        count, missing, unbounded, low, high, short, long = row[1 + 7 * index : 8 + 7 * index]
        count = int(count)
        missing = rows - count if missing is None else int(missing)  # None: only NULL counts as NULL
        if missing == 0 and item.not_null:
            found.append(Candidate(GeneratedExpectation("not_null", item.plan), proven=True))
        if item.unique and count > 1 and (_held(item, held) or duplicates.get(index) is False):
            unique_values = GeneratedExpectation("unique", item.plan)
            found.append(Candidate(unique_values, proven=index not in checked))
        if index in sets and distinct[index] <= value_set_max:
            set_items.append(item)  # the sample's distinct values are at most the table's
        bounds = None if int(unbounded or 0) else _range(item.plan, low, high)
        if item.range and bounds is not None:
            ranged = GeneratedExpectation("between", item.plan, low=bounds[0], high=bounds[1])
            found.append(Candidate(ranged, proven=_exact_bounds(source, low, high)))
        if item.length and short is not None and long is not None:
            measured = GeneratedExpectation("length_between", item.plan, low=int(short), high=int(long))
            found.append(Candidate(measured, proven=True))
    counts = {id(item): int(row[1 + 7 * i]) for i, item in enumerate(eligible)}
    value_sets = _value_sets(source, table, set_items, value_set_max, counts, known_values or {})
    # A set's values are read back from the very expression the check compares, byte-wise, on the
    # engines whose drivers hand text over unchanged: the source meets it by construction.
    exact_sets = source.dialect.exact_aggregates
    return found + [Candidate(expectation, proven=exact_sets) for expectation in value_sets]


def profile_sql(
    source: Connector, table: str, eligible: Sequence[Eligible], held: Collection[str] = ()
) -> str:
    """The profile's first statement: the whole table's aggregates beside its first rows' (one
    row). It depends on the plan and the schema only, so it may run before the reconciliation, on
    a connection of its own, and be handed to :func:`profile_candidates` (``execute``)."""
    unique, _, in_sample = sampled_columns(eligible, held)
    full = _whole_table_parts(source, eligible)
    sample = _sample_parts(source, eligible, in_sample, unique)
    return _profile_sql(source, table, full, sample)


def sampled_columns(
    eligible: Sequence[Eligible], held: Collection[str]
) -> tuple[list[int], list[int], list[int]]:
    """The columns whose duplicates the sample counts (unique candidates no key holds), the value
    set candidates, and both, sorted: the sample's columns, in the order of its aggregates."""
    unique = [i for i, item in enumerate(eligible) if item.unique and not _held(item, held)]
    sets = [i for i, item in enumerate(eligible) if item.in_set]
    return unique, sets, sorted({*unique, *sets})


def _settled_by_repeats(
    source: Connector, eligible: Sequence[Eligible], indexes: list[int], repeats: Mapping[str, int]
) -> dict[int, bool]:
    """Whether each column has duplicates, where the reconciliation's count of its repeated values
    settles it: no repeat proves its present values distinct (equal values hash alike), and
    ``SURE_SURPLUS`` or more are taken as duplicates (a collision could only leave a uniqueness
    expectation out, never raise a finding). Only where only NULL counts as NULL: the count then
    covers the very values the source check would count."""
    settled: dict[int, bool] = {}
    for index in indexes:
        repeated = repeats.get(eligible[index].plan.name)
        if repeated is None or not _present_as_written(source, eligible[index]):
            continue
        if repeated == 0 or repeated >= SURE_SURPLUS:
            settled[index] = repeated > 0
    return settled


def _exact_bounds(source: Connector, low: Any, high: Any) -> bool:
    """Whether the source's own extremes, as read, are exact bounds of the same column: integers,
    decimals and dates from engines that store them as such (no float, no time zone on the way)."""
    if not source.dialect.exact_aggregates:
        return False
    exact = (int, decimal.Decimal)
    for value in (low, high):
        if isinstance(value, bool) or not (
            isinstance(value, exact) or (isinstance(value, dt.date) and not isinstance(value, dt.datetime))
        ):
            return False
    return True


def _any(*surpluses: Any) -> bool:
    return any(int(value or 0) != 0 for value in surpluses)


def _held(item: Eligible, held: Collection[str]) -> bool:
    return held_by_key(item.plan, "source", held)


def _whole_table_parts(source: Connector, eligible: Sequence[Eligible]) -> list[str]:
    """Seven aggregates per column: values, values that count as NULL (what a not-null counts; NULL
    where only NULL does, for the rows minus the values), values no bound can hold, range, lengths."""
    parts = ["COUNT(*)"]
    for item in eligible:
        plan = item.plan
        quoted = source.quote(plan.source.name)
        gone = absent(source, plan, "source")
        only_null = gone == f"{quoted} IS NULL"
        parts.append(f"COUNT({quoted})")
        # Where only NULL counts as NULL, the rows minus the values: one aggregate less per row.
        parts.append("NULL" if only_null else f"COUNT(CASE WHEN {gone} THEN 1 END)")
        unbounded = "NULL"
        if source.dialect.unreadable_infinity and plan.source.family in _TEMPORAL:
            # ±infinity: the driver reads it as no bound, and it would fail the range on the source
            unbounded = f"COUNT(CASE WHEN NOT {gone} AND NOT isfinite({quoted}) THEN 1 END)"
            gone = f"({gone} OR NOT isfinite({quoted}))"
        parts.append(unbounded if item.range else "NULL")
        # The column itself where only NULL counts as NULL: MIN and MAX skip NULLs on their own.
        ranged = quoted if gone == f"{quoted} IS NULL" else f"CASE WHEN {gone} THEN NULL ELSE {quoted} END"
        parts += [f"MIN({ranged})", f"MAX({ranged})"] if item.range else ["NULL", "NULL"]
        length = length_value(source, plan, "source")
        # A canonical text is NULL for NULL: where only NULL counts as NULL, the bare length.
        measured = length if gone == f"{quoted} IS NULL" else f"CASE WHEN {gone} THEN NULL ELSE {length} END"
        parts += [f"MIN({measured})", f"MAX({measured})"] if item.length and length else ["NULL", "NULL"]
    return parts


def _present_as_written(source: Connector, item: Eligible) -> bool:
    """Whether only NULL counts as NULL: then present values are the values as written."""
    return only_null(source, item.plan, "source")


def _duplicate_parts(
    source: Connector, item: Eligible, name: str, *, unique: bool = True
) -> tuple[list[str], list[str]]:
    """(a row's values, three aggregates over them): the distinct canonical values, the values as
    written (their difference: the candidate's duplicates) and the duplicates among the values
    that count as present (what the source check counts), 0 where not needed."""
    plan = item.plan
    quoted = source.quote(plan.source.name)
    value = distinct_value(source, plan, "source") or quoted
    raw, canon = source.quote(f"{name}r"), source.quote(f"{name}d")
    values = [f"{value} AS {canon}"]
    aggregates = [f"COUNT(DISTINCT {canon})", "0", "0"]
    if unique:
        values.append(f"{quoted} AS {raw}")
        aggregates[1] = f"COUNT({raw})"
    if unique and not _present_as_written(source, item):
        kept = source.quote(f"{name}p")
        values.append(f"{present_value(source, plan, 'source') or value} AS {kept}")
        aggregates[2] = f"COUNT({kept}) - COUNT(DISTINCT {kept})"
    return values, aggregates


def _sample_parts(
    source: Connector, eligible: Sequence[Eligible], columns: list[int], unique: list[int]
) -> tuple[list[str], list[str]]:
    values, aggregates = ["1 AS " + source.quote("one")], ["COUNT(*)"]
    for index in columns:
        more, counted = _duplicate_parts(source, eligible[index], f"c{index}", unique=index in unique)
        values += more
        aggregates += counted
    return values, aggregates


def _profile_sql(source: Connector, table: str, full: list[str], sample: tuple[list[str], list[str]]) -> str:
    qualified = source.qualified(table)
    values, aggregates = sample
    named_full = ", ".join(f"{part} AS {source.quote(f'a{i}')}" for i, part in enumerate(full))
    named_sample = ", ".join(f"{part} AS {source.quote(f'b{i}')}" for i, part in enumerate(aggregates))
    return (
        f"SELECT * FROM (SELECT {named_full} FROM {qualified}) {source.quote('whole')} "
        f"CROSS JOIN (SELECT {named_sample} FROM (SELECT {', '.join(values)} FROM {qualified} "
        f"LIMIT {SAMPLE_ROWS}) {source.quote('first')}) {source.quote('sampled')}"
    )


def _count_duplicates(
    source: Connector, table: str, eligible: Sequence[Eligible], indexes: list[int]
) -> dict[int, bool]:
    values: list[str] = []
    aggregates: list[str] = []
    for index in indexes:
        more, counted = _duplicate_parts(source, eligible[index], f"c{index}")
        values += more
        aggregates += counted
    rows = f"SELECT {', '.join(values)} FROM {source.qualified(table)}"
    row = source.execute(f"SELECT {', '.join(aggregates)} FROM ({rows}) {source.quote('whole')}")[0]
    return {
        index: _any(int(row[3 * i + 1] or 0) - int(row[3 * i] or 0), row[3 * i + 2])
        for i, index in enumerate(indexes)
    }


def _value_sets(
    source: Connector,
    table: str,
    items: list[Eligible],
    value_set_max: int,
    counts: dict[int, int],
    read: Mapping[str, tuple[str, ...]],
) -> list[GeneratedExpectation]:
    """The value sets of the columns with at most ``value_set_max`` distinct values in at most half
    as many rows: at most ``value_set_max + 1`` values fetched per column, only present ones kept.
    A column whose distinct values the reconciliation read (``read``), where only NULL counts as
    NULL, needs no query: those are its present values."""
    known = {
        index: read[item.plan.name]
        for index, item in enumerate(items)
        if item.plan.name in read and _present_as_written(source, item)
    }
    groups: dict[int, int] = {index: len(known.get(index, ())) for index in range(len(items))}
    values: dict[int, set[str]] = {index: set(known.get(index, ())) for index in range(len(items))}
    selects = []
    for index, item in enumerate(items):
        if index in known:
            continue
        text = canonical_text(source, item.plan, "source")
        value = comparable(source, text or "NULL")
        gone = absent(source, item.plan, "source")
        selects.append(
            f"SELECT * FROM (SELECT {index} AS {source.quote('n')}, {value} AS {source.quote('v')}, "
            f"MAX(CASE WHEN {gone} THEN 0 ELSE 1 END) AS {source.quote('present')} "
            f"FROM {source.qualified(table)} WHERE {value} IS NOT NULL GROUP BY {value} "
            f"LIMIT {int(value_set_max) + 1}) {source.quote(f'g{index}')}"
        )
    for index, value, present in source.execute(" UNION ALL ".join(selects)) if selects else ():
        groups[int(index)] += 1
        if int(present):
            text = bytes(value).decode() if isinstance(value, bytes | bytearray) else str(value)
            values[int(index)].add(text)
    return [
        GeneratedExpectation("in_set", item.plan, values=tuple(sorted(values[index], key=_set_order(item))))
        for index, item in enumerate(items)
        if values[index] and groups[index] <= value_set_max and groups[index] * 2 <= counts[id(item)]
    ]


def _set_order(item: Eligible) -> Any:
    return (lambda text: (0, int(text), "")) if item.plan.family is F.INTEGER else (lambda text: (1, 0, text))


def _range(plan: ColumnPlan, low: Any, high: Any) -> tuple[Any, Any] | None:
    """The source's extremes as typed bounds, widened by the declared tolerances; None if unusable."""
    low, high = _typed(low), _typed(high)
    if low is None or high is None or type(low) is not type(high):
        return None
    rule = plan.rule
    if isinstance(low, decimal.Decimal | int):
        widen = decimal.Decimal(str(rule.abs_tolerance or 0))
        relative = decimal.Decimal(str(rule.rel_tolerance or 0))
        if widen or relative:
            low = low - widen - abs(decimal.Decimal(low)) * relative
            high = high + widen + abs(decimal.Decimal(high)) * relative
        return low, high
    if isinstance(low, dt.datetime):
        widen_time = rule.timestamp_tolerance_delta or dt.timedelta(0)
        truncated = _PRECISION[rule.timestamp_precision] if rule.timestamp_precision else dt.timedelta(0)
        return low - widen_time - truncated, high + widen_time
    return low, high  # dates


def _typed(value: Any) -> Any:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return decimal.Decimal(repr(value))  # the decimal a float prints as, compared exactly
    if isinstance(value, int | decimal.Decimal | dt.date):
        return value
    return None  # a zero date read as text, a value no bound can hold
