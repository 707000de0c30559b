"""Expectations for a target table: generated from the source's data, plus those the spec declares.

Generated expectations state what the source guarantees (no NULLs, unique values, a small set of
values, a range, string lengths) in the comparison family of each column pair of the TablePlan,
spelled with target names, so that a correct migration meets every one of them:

- a boolean pair (tinyint(1) -> boolean) gets at most a not-null; a SET, array, JSON, float or
  binary pair only a not-null; enum labels are compared as text, lengths in characters;
- ranges only for integer, decimal, date and naive timestamp columns that are neither key nor
  identity (an extra row is reconciliation's finding, not a range's), widened by declared tolerances;
- declared rules weaken what is expected: NULL-like values ('' under ``null_equals_empty``, zero
  dates) count as NULL; a value map, trim, case folding or NFC leaves no set, length or uniqueness.

Each generated expectation is then evaluated on the source with the same SQL (source names) and
dropped if the source fails it. The profile is one aggregate scan plus, for low-cardinality
columns, one grouped query; both run in the source.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.check_errors import Unit, check_error_finding, guarded
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import Column, TypeFamily
from pm_pipeline.core.findings import Finding
from pm_pipeline.core.integrity.settings import IntegritySettings
from pm_pipeline.core.integrity.sql_expectations import (
    GeneratedExpectation,
    absent,
    canonical_text,
    comparable,
    count_unexpected,
    distinct_value,
    engine_dialect,
    length_value,
)
from pm_pipeline.core.reconcile.planning import TablePlan

F = TypeFamily
CHECK = "integrity"
_NUMBERS = {F.INTEGER, F.DECIMAL}
_TEMPORAL = {F.DATE, F.TIMESTAMP, F.TIMESTAMPTZ}
_TEXTS = {F.TEXT, F.ENUM}
_UNIQUE_FAMILIES = _NUMBERS | _TEMPORAL | {F.TEXT, F.UUID}
_PRECISION = {"s": dt.timedelta(seconds=1), "ms": dt.timedelta(milliseconds=1), "us": dt.timedelta(0)}


@dataclass(frozen=True)
class ExpectationCall:
    """One declared expectation on one target table: its GX type and keyword arguments."""

    type: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    origin: Literal["profile", "spec"] = "spec"

    @property
    def column(self) -> str | None:
        value = self.kwargs.get("column")
        return None if value is None else str(value)

    @property
    def label(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items() if k != "column")
        return f"{self.type}({args})" if args else self.type


@dataclass(frozen=True)
class GeneratedSuite:
    """The generated expectations that hold on the source, and what could not be evaluated there."""

    expectations: tuple[GeneratedExpectation, ...]
    errors: tuple[Finding, ...] = ()


def declared_suite(settings: IntegritySettings, table: str) -> list[ExpectationCall]:
    """The expectations the spec declares for target table ``table``."""
    return [ExpectationCall(type=d.type, kwargs=d.kwargs) for d in settings.expectations.get(table, [])]


def _bit(column: Column) -> bool:
    return column.data_type.strip().lower().startswith("bit")


def _rewrites_text(plan: ColumnPlan) -> bool:
    rule = plan.rule
    return bool(rule.trim or rule.case_insensitive or rule.unicode_nfc or rule.value_map)


def _both(plan: ColumnPlan, families: set[TypeFamily]) -> bool:
    return plan.source.family in families and plan.target.family in families and not _bit(plan.source)


class _Eligible:
    """Which expectations a column pair may get, given both connectors."""

    def __init__(
        self, source: Connector, target: Connector, plan: ColumnPlan, *, key: bool, zones_known: bool
    ) -> None:
        self.plan, self.key, self.zones_known = plan, key, zones_known
        texts = [canonical_text(source, plan, "source"), canonical_text(target, plan, "target")]
        self.has_text = None not in texts
        self.sqlite = "sqlite" in (engine_dialect(source), engine_dialect(target))
        self.has_distinct = None not in (
            distinct_value(source, plan, "source"),
            distinct_value(target, plan, "target"),
        )

    @property
    def not_null(self) -> bool:
        value_map = self.plan.rule.value_map or {}
        return None not in value_map.values()  # a value mapped to NULL may leave the target NULL

    @property
    def unique(self) -> bool:
        plan = self.plan
        if plan.family not in _UNIQUE_FAMILIES or plan.tolerant or _rewrites_text(plan):
            return False
        if plan.rule.timestamp_precision or not self.has_distinct:
            return False
        if plan.family in _NUMBERS:
            return _both(plan, _NUMBERS)
        if plan.family in _TEMPORAL:
            return _both(plan, _TEMPORAL)
        return _both(plan, _TEXTS | {F.UUID}) and self.has_text

    @property
    def in_set(self) -> bool:
        plan = self.plan
        if self.key or _rewrites_text(plan) or not self.has_text:
            return False
        return (plan.family is F.TEXT and _both(plan, _TEXTS)) or (
            plan.family is F.INTEGER and _both(plan, {F.INTEGER}) and not _bit(plan.target)
        )

    @property
    def length(self) -> bool:
        plan = self.plan
        return (
            not self.key and plan.family is F.TEXT and _both(plan, {F.TEXT}) and not _rewrites_text(plan)
        ) and self.has_text

    @property
    def range(self) -> bool:
        plan = self.plan
        if self.key or plan.source.identity or plan.target.identity or plan.rule.value_map:
            return False
        if plan.family in _NUMBERS:
            return _both(plan, _NUMBERS) and not _bit(plan.target)
        same_zone = (
            self.zones_known
            and plan.source_zone == plan.target_zone
            and not (plan.rule.source_timezone or plan.rule.target_timezone)
        )
        if self.sqlite or (plan.family is F.TIMESTAMP and not same_zone):
            return False
        return plan.family in (F.DATE, F.TIMESTAMP) and _both(plan, {plan.family})


def generate_expectations(
    source: Connector, target: Connector, *, plan: TablePlan, value_set_max: int, zones_known: bool = True
) -> GeneratedSuite:
    """The expectations the source's data satisfies, each checked on the source before it is kept.

    ``zones_known``: whether the plan carries the zones naive timestamps were written in; without
    them, naive timestamps get no range (a shifted zone would move every value)."""
    keys = {p.name for p in plan.keys}
    eligible = [
        _Eligible(source, target, p, key=p.name in keys, zones_known=zones_known) for p in plan.all_plans
    ]
    if not eligible:
        return GeneratedSuite(())
    profiled, error = guarded(
        Unit(CHECK, "expectation profile of the source", plan.target_table),
        partial(_candidates, source, plan.table, eligible, value_set_max),
        connectors=[source],
    )
    if profiled is None:
        return GeneratedSuite((), (error,) if error else ())
    candidates = profiled
    counts = count_unexpected(source, table=plan.table, expectations=candidates, side="source")
    kept: list[GeneratedExpectation] = []
    errors: list[Finding] = []
    for expectation, counted in zip(candidates, counts, strict=True):
        if isinstance(counted, Exception):
            unit = Unit(CHECK, f"expectation {expectation.label} on the source", plan.target_table)
            errors.append(
                check_error_finding(_with_column(unit, expectation), counted, secrets=_secrets(source))
            )
        elif counted == 0:
            kept.append(expectation)
    return GeneratedSuite(tuple(kept), tuple(errors))


def _with_column(unit: Unit, expectation: GeneratedExpectation) -> Unit:
    return Unit(unit.check, unit.what, unit.table, expectation.column)


def _secrets(*connectors: Connector) -> list[str | None]:
    return [connector.url.password for connector in connectors]


def _candidates(
    source: Connector, table: str, eligible: list[_Eligible], value_set_max: int
) -> list[GeneratedExpectation]:
    """Candidate expectations from one aggregate scan of the source (and one grouped query for sets)."""
    parts = ["COUNT(*)"]
    for item in eligible:
        plan = item.plan
        quoted = source.quote(plan.source.name)
        gone = absent(source, plan, "source")
        value = distinct_value(source, plan, "source")
        parts.append(f"COUNT({quoted})")
        parts.append(f"COUNT(DISTINCT {value})" if (item.unique or item.in_set) and value else "NULL")
        if engine_dialect(source) == "postgresql" and plan.source.family in _TEMPORAL:
            gone = f"({gone} OR NOT isfinite({quoted}))"  # ±infinity: no driver reads it as a bound
        ranged = f"CASE WHEN {gone} THEN NULL ELSE {quoted} END"
        parts += [f"MIN({ranged})", f"MAX({ranged})"] if item.range else ["NULL", "NULL"]
        length = length_value(source, plan, "source")
        measured = f"CASE WHEN {gone} THEN NULL ELSE {length} END"
        parts += [f"MIN({measured})", f"MAX({measured})"] if item.length and length else ["NULL", "NULL"]
    row = source.execute(f"SELECT {', '.join(parts)} FROM {source.qualified(table)}")[0]
    rows = int(row[0])
    if rows == 0:
        return []
    found: list[GeneratedExpectation] = []
    sets: list[_Eligible] = []
    for index, item in enumerate(eligible):
        count, distinct, low, high, short, long = row[1 + 6 * index : 7 + 6 * index]
        count = int(count)
        if count == rows and item.not_null:
            found.append(GeneratedExpectation("not_null", item.plan))
        if item.unique and distinct is not None and int(distinct) == count > 1:
            found.append(GeneratedExpectation("unique", item.plan))
        if (
            item.in_set
            and distinct is not None
            and 0 < int(distinct) <= value_set_max
            and int(distinct) * 2 <= count
        ):
            sets.append(item)
        bounds = _range(item.plan, low, high)
        if item.range and bounds is not None:
            found.append(GeneratedExpectation("between", item.plan, low=bounds[0], high=bounds[1]))
        if item.length and short is not None and long is not None:
            found.append(GeneratedExpectation("length_between", item.plan, low=int(short), high=int(long)))
    return found + _value_sets(source, table, sets)


def _value_sets(source: Connector, table: str, items: list[_Eligible]) -> list[GeneratedExpectation]:
    if not items:
        return []
    selects = []
    for index, item in enumerate(items):
        text = canonical_text(source, item.plan, "source")
        value = comparable(source, text or "NULL")
        selects.append(
            f"SELECT {index}, {value} FROM {source.qualified(table)} "
            f"WHERE NOT ({absent(source, item.plan, 'source')}) GROUP BY {value}"
        )
    values: dict[int, set[str]] = {index: set() for index in range(len(items))}
    for index, value in source.execute(" UNION ALL ".join(selects)):
        if value is not None:
            values[int(index)].add(
                bytes(value).decode() if isinstance(value, bytes | bytearray) else str(value)
            )
    return [
        GeneratedExpectation("in_set", item.plan, values=tuple(sorted(values[index], key=_set_order(item))))
        for index, item in enumerate(items)
        if values[index]
    ]


def _set_order(item: _Eligible) -> Any:
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
