# Over 300 lines: the SQL of every generated expectation kind, its counts and its recounts, spelled once for both sides.
"""Expectations as our own pushdown SQL, on every engine (PostgreSQL, MariaDB/MySQL, SQLite, DuckDB).

A generated expectation is stated in the comparison family of its column pair and evaluated on
either side with that side's column: the canonical text of a value (``canonical.sqltext``) for sets and
lengths, compared byte for byte (a MariaDB ``_ci`` collation or a SQLite NOCASE column must not
merge 'a' and 'A'); the typed value for ranges. What a declared rule makes equal to NULL ('' under
``null_equals_empty``, zero dates) counts as NULL. Every expectation of a table is counted in one
aggregate scan per side; only those with unexpected rows fetch a bounded sample, ordered by the key.
Like Great Expectations, every check but not-null ignores NULLs.
"""

from __future__ import annotations

import decimal
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.canonical.sqltext import canonical_text_sql
from pm_pipeline.core.check_errors import databases_answer, is_check_error
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import Column, TypeFamily
from pm_pipeline.core.reconcile.sqlhash import dialect_of

F = TypeFamily
Side = Literal["source", "target"]
Kind = Literal["not_null", "unique", "in_set", "between", "length_between"]
GX_TYPES: dict[str, str] = {
    "not_null": "expect_column_values_to_not_be_null",
    "unique": "expect_column_values_to_be_unique",
    "in_set": "expect_column_values_to_be_in_set",
    "between": "expect_column_values_to_be_between",
    "length_between": "expect_column_value_lengths_to_be_between",
}


@dataclass(frozen=True)
class GeneratedExpectation:
    """One expectation on one column pair, in the pair's comparison family: set members are
    canonical text, range bounds typed values (int, Decimal, date, datetime)."""

    kind: Kind
    plan: ColumnPlan
    values: tuple[Any, ...] = ()
    low: Any = None
    high: Any = None

    @property
    def column(self) -> str:
        return self.plan.target_name

    @property
    def type(self) -> str:
        return GX_TYPES[self.kind]

    @property
    def label(self) -> str:
        if self.kind == "in_set":
            if self.plan.classification is not None:  # the source's values of a classified column
                return f"{self.type}(value_set=<{len(self.values)} values>)"
            shown = [int(v) for v in self.values] if self.plan.family is F.INTEGER else list(self.values)
            return f"{self.type}(value_set={shown!r})"
        if self.kind in ("between", "length_between"):
            return f"{self.type}(min_value={_shown(self.low)!r}, max_value={_shown(self.high)!r})"
        return self.type


def _shown(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value if isinstance(value, int | float | str | None) else str(value)


def side_column(plan: ColumnPlan, side: Side) -> Column:
    return plan.source if side == "source" else plan.target


def canonical_text(connector: Connector, plan: ColumnPlan, side: Side) -> str | None:
    """The canonical text of the side's column (text and integer families), or None."""
    column = side_column(plan, side)
    quoted = connector.quote(column.name)
    if connector.dialect.dynamic_typing:
        # Values are kept as stored: text is text, integers render as digits.
        return connector.dialect.text_cast(quoted) if column.family in (F.TEXT, F.INTEGER) else None
    hashed = dialect_of(connector.engine)
    return None if hashed is None else canonical_text_sql(hashed, plan, side, quoted)


def comparable(connector: Connector, text: str) -> str:
    """``text`` compared byte for byte, whatever the column's collation."""
    return connector.dialect.bytewise(text)


def maps_zero_dates(plan: ColumnPlan) -> bool:
    mapped = getattr(plan, "maps_zero_dates", None)
    return bool(mapped) if mapped is not None else plan.rule.zero_date == "null"


def absent(connector: Connector, plan: ColumnPlan, side: Side) -> str:
    """True where the side's value is NULL in canonical form (declared rules included)."""
    column = side_column(plan, side)
    quoted = connector.quote(column.name)
    dialect = connector.dialect
    parts = [f"{quoted} IS NULL"]
    if plan.rule.null_equals_empty and column.family is F.TEXT:
        parts.append(f"{quoted} = ''")
    holds_zero = getattr(column, "zero_dates", dialect.has_zero_dates) or column.family in (F.TEXT, F.OTHER)
    if maps_zero_dates(plan) and holds_zero:
        parts.append(dialect.is_zero_date(quoted, column.family))
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def only_null(connector: Connector, plan: ColumnPlan, side: Side) -> bool:
    """Whether only NULL counts as NULL on the side (no declared rule adds '' or zero dates)."""
    return absent(connector, plan, side) == f"{connector.quote(side_column(plan, side).name)} IS NULL"


def unless_absent(connector: Connector, plan: ColumnPlan, side: Side, value: str) -> str:
    """``value``, NULL where the side's value counts as NULL (:func:`absent`): ``value`` as it
    is when it is the side's column itself and only NULL counts as NULL."""
    if value == connector.quote(side_column(plan, side).name) and only_null(connector, plan, side):
        return value
    return f"CASE WHEN {absent(connector, plan, side)} THEN NULL ELSE {value} END"


def distinct_value(connector: Connector, plan: ColumnPlan, side: Side) -> str | None:
    """The expression whose distinct values are the column's distinct canonical values, or None."""
    column = side_column(plan, side)
    if plan.family in (F.TEXT, F.UUID):
        text = canonical_text(connector, plan, side)
        return None if text is None else comparable(connector, text)
    return connector.quote(column.name)


def present_value(connector: Connector, plan: ColumnPlan, side: Side) -> str | None:
    """:func:`distinct_value`, NULL where the value counts as NULL (:func:`absent`): several ''
    that stand for NULL under ``null_equals_empty``, or several zero dates, are no duplicates."""
    value = distinct_value(connector, plan, side)
    return None if value is None else unless_absent(connector, plan, side, value)


def length_value(connector: Connector, plan: ColumnPlan, side: Side) -> str | None:
    text = canonical_text(connector, plan, side)
    return None if text is None else connector.dialect.char_length(text)


def condition(connector: Connector, expectation: GeneratedExpectation, side: Side) -> tuple[str, list[Any]]:
    """A predicate true for the side's unexpected rows, and its parameters (not for ``unique``)."""
    plan = expectation.plan
    gone = absent(connector, plan, side)
    if expectation.kind == "not_null":
        return gone, []
    p = connector.placeholder
    if expectation.kind == "in_set":
        marks = ", ".join([p] * len(expectation.values))
        if plan.family is F.INTEGER:
            value = connector.quote(side_column(plan, side).name)
            return f"NOT ({gone}) AND {value} NOT IN ({marks})", list(expectation.values)
        text = canonical_text(connector, plan, side)
        if text is None:
            raise ValueError(f"no canonical text for {plan.name} on the {side}")
        return f"NOT ({gone}) AND {comparable(connector, text)} NOT IN ({marks})", list(expectation.values)
    if expectation.kind == "between":
        value = connector.quote(side_column(plan, side).name)
        bounds = [_param(connector, expectation.low), _param(connector, expectation.high)]
    elif expectation.kind == "length_between":
        measured = length_value(connector, plan, side)
        if measured is None:
            raise ValueError(f"no canonical text for {plan.name} on the {side}")
        value, bounds = measured, [expectation.low, expectation.high]
    else:
        raise ValueError(f"{expectation.kind} has no row predicate")
    return f"NOT ({gone}) AND ({value} < {p} OR {value} > {p})", bounds


def _param(connector: Connector, value: Any) -> Any:
    # A driver that binds no Decimal gets its text; a numeric column's affinity (SQLite) turns
    # it back into its number.
    if not connector.dialect.binds_decimals and isinstance(value, decimal.Decimal):
        return str(value)
    return value


def counter(
    connector: Connector, expectation: GeneratedExpectation, side: Side, *, hashed: bool = False
) -> tuple[str, list[Any]]:
    """The aggregate counting the side's unexpected rows (for ``unique``: the surplus duplicates).
    ``hashed``: a text's surplus is counted on its 64-bit hashes where the engine has them, which
    is never below the surplus of the texts (0 proves no duplicate; more is counted again)."""
    if expectation.kind == "unique":
        value = present_value(connector, expectation.plan, side)
        if value is None:
            raise ValueError(f"no comparable value for {expectation.plan.name} on the {side}")
        distinct = hashed_text(connector, expectation, value) if hashed else None
        return f"COUNT({value}) - COUNT(DISTINCT {distinct or value})", []
    predicate, params = condition(connector, expectation, side)
    return f"COUNT(CASE WHEN {predicate} THEN 1 END)", params


def hashed_text(connector: Connector, expectation: GeneratedExpectation, value: str) -> str | None:
    """The 64-bit hash a text column's distinct values are counted by, or None."""
    if expectation.kind != "unique" or expectation.plan.family not in (F.TEXT, F.UUID):
        return None
    return connector.dialect.text_hash64(value)


def count_unexpected(
    connector: Connector,
    *,
    table: str,
    expectations: Sequence[GeneratedExpectation],
    side: Side,
    held_unique: Collection[str] = (),
    hashed: bool = False,
    distinct: Collection[str] = (),
) -> list[int | Exception]:
    """The unexpected rows of each expectation in one scan of ``table``; when that scan fails, each
    expectation alone, so one that cannot run (its error in its place) leaves the others counted.

    ``held_unique``: the side's columns a one-column unique key holds distinct; a uniqueness
    expectation on one whose canonical value is the column itself counts no row (no scan for it).
    ``hashed``: text uniqueness is counted on 64-bit hashes where the engine has them (see
    :func:`counter`): 0 is exact, more is an upper bound that :func:`exact_surplus` settles.
    ``distinct``: column pairs (by source name) whose canonical values the reconciliation found
    distinct on this side; where only NULL counts as NULL, their uniqueness counts no row either."""
    held = [
        e.kind == "unique"
        and (
            held_by_key(e.plan, side, held_unique)
            or (e.plan.name in distinct and only_null(connector, e.plan, side))
        )
        for e in expectations
    ]
    if any(held):
        rest = [e for e, by_key in zip(expectations, held, strict=True) if not by_key]
        others = iter(count_unexpected(connector, table=table, expectations=rest, side=side, hashed=hashed))
        return [0 if by_key else next(others) for by_key in held]
    if not expectations:
        return []
    parts = [counter(connector, expectation, side, hashed=hashed) for expectation in expectations]
    sql = f"SELECT {', '.join(text for text, _ in parts)} FROM {connector.qualified(table)}"
    try:
        row = connector.execute(sql, [value for _, params in parts for value in params])[0]
        return [int(value or 0) for value in row]
    except Exception as exc:
        if len(parts) == 1 or not _database_error(exc, connector):
            raise
    counted: list[int | Exception] = []
    for expectation in expectations:
        try:
            counted += count_unexpected(
                connector, table=table, expectations=[expectation], side=side, hashed=hashed
            )
        except Exception as exc:
            if not _database_error(exc, connector):
                raise
            counted.append(exc)
    return counted


def counted_on_hashes(connector: Connector, expectation: GeneratedExpectation, side: Side) -> bool:
    """Whether ``count_unexpected(..., hashed=True)`` counts this expectation on hashes."""
    value = present_value(connector, expectation.plan, side) if expectation.kind == "unique" else None
    return value is not None and hashed_text(connector, expectation, value) is not None


def exact_surplus(
    connector: Connector, *, table: str, expectation: GeneratedExpectation, side: Side, counted: int
) -> int:
    """The exact count behind a count of ``count_unexpected(..., hashed=True)``: a surplus of
    hashes may hold collisions, so it is counted again on the texts (0 needs no second scan)."""
    if counted == 0 or not counted_on_hashes(connector, expectation, side):
        return counted
    exact, params = counter(connector, expectation, side)
    return int(connector.execute(f"SELECT {exact} FROM {connector.qualified(table)}", params)[0][0] or 0)


def held_by_key(plan: ColumnPlan, side: Side, held_unique: Collection[str]) -> bool:
    """Whether a one-column unique key of the side already makes the pair's canonical values
    distinct: only where the canonical value is the column itself (text compares bytes, not the
    key's collation)."""
    return side_column(plan, side).name in held_unique and plan.family not in (F.TEXT, F.UUID)


def _database_error(exc: Exception, connector: Connector) -> bool:
    """An error of the database about this statement (not a bug, not a server gone)."""
    return is_check_error(exc) and databases_answer([connector])


def sample_unexpected(
    connector: Connector,
    *,
    table: str,
    expectation: GeneratedExpectation,
    key_columns: Sequence[str],
    side: Side,
    limit: int,
) -> list[tuple[Any, ...]]:
    """Up to ``limit`` unexpected rows as (key values..., value), in key order."""
    plan = expectation.plan
    quoted = connector.quote(side_column(plan, side).name)
    source = connector.qualified(table)
    if expectation.kind == "unique":
        value = present_value(connector, plan, side) or quoted
        predicate = (
            f"{value} IN (SELECT {value} FROM {source} WHERE {value} IS NOT NULL "
            f"GROUP BY {value} HAVING COUNT(*) > 1)"
        )
        params: list[Any] = []
    else:
        predicate, params = condition(connector, expectation, side)
    keys = [connector.quote(name) for name in key_columns]
    order = ", ".join(keys) if keys else quoted
    return connector.execute(
        f"SELECT {', '.join([*keys, quoted])} FROM {source} WHERE {predicate} ORDER BY {order} LIMIT {int(limit)}",
        params,
    )
