"""Profiles and key maxima computed inside the database: aggregates cross the wire, rows never do.

Counts, NULLs, lengths and extremes cover the whole table in one scan; distinct counts and the
most frequent values come from the first ``sample_rows`` rows the engine returns (both sides of a
migration loaded in the same order usually return the same rows). Text extremes are left out:
they depend on each engine's collation.
"""

from __future__ import annotations

import decimal
from typing import Any

from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import Column, TableSchema
from pm_pipeline.core.connectors.schema import TypeFamily as F
from pm_pipeline.core.dialects import canonical_engine
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.schema.profile import ColumnProfile, value_text
from pm_pipeline.core.schema.type_map import effective_family

TOP_VALUES = 20

_LENGTH_FAMILIES = {F.TEXT, F.ENUM, F.SET, F.BINARY}
_ORDERED_FAMILIES = {F.INTEGER, F.DECIMAL, F.FLOAT, F.DATE, F.TIME, F.TIMESTAMP, F.TIMESTAMPTZ}
# Values of these families cannot be grouped or counted distinct on every engine (PostgreSQL json).
_UNGROUPABLE = {F.JSON, F.OTHER}


def _length_sql(connector: Connector, column: Column, family: F) -> str:
    dialect, quoted = connector.dialect, connector.quote(column.name)
    if family is F.BINARY:
        return dialect.byte_length(quoted)
    return dialect.char_length(dialect.text_cast(quoted))


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def profile_columns(
    connector: Connector, table: str, schema: TableSchema, *, sample_rows: int = 10_000
) -> dict[str, ColumnProfile]:
    """One :class:`ColumnProfile` per column of ``schema``, keyed by column name."""
    engine = canonical_engine(connector.engine) or connector.engine
    families = {col.name: effective_family(col.data_type, col.family, engine)[0] for col in schema.columns}
    source = connector.qualified(table)
    parts = ["COUNT(*)"]
    for col in schema.columns:
        quoted, family = connector.quote(col.name), families[col.name]
        length = _length_sql(connector, col, family) if family in _LENGTH_FAMILIES else "NULL"
        extreme = quoted if family in _ORDERED_FAMILIES else "NULL"
        parts += [
            f"COUNT({quoted})",
            f"MIN({length})",
            f"MAX({length})",
            f"MIN({extreme})",
            f"MAX({extreme})",
        ]
    whole = connector.execute(f"SELECT {', '.join(parts)} FROM {source}")[0]
    rows = int(whole[0])

    # The same rows on every run (and on both sides when they hold the same keys).
    order = f" ORDER BY {', '.join(map(connector.quote, schema.primary_key))}" if schema.primary_key else ""
    sample = f"(SELECT * FROM {source}{order} LIMIT {connector.placeholder}) sampled"
    groupable = [col for col in schema.columns if families[col.name] not in _UNGROUPABLE]
    distinct: dict[str, int] = {}
    sampled = min(rows, sample_rows)
    if groupable:
        counts = connector.execute(
            f"SELECT {', '.join(f'COUNT(DISTINCT {connector.quote(c.name)})' for c in groupable)} FROM {sample}",
            (sample_rows,),
        )[0]
        distinct = {col.name: int(count) for col, count in zip(groupable, counts, strict=True)}

    profiles: dict[str, ColumnProfile] = {}
    for index, col in enumerate(schema.columns):
        family = families[col.name]
        count, min_len, max_len, low, high = whole[1 + 5 * index : 6 + 5 * index]
        top: tuple[str, ...] = ()
        if col.name in distinct:
            quoted = connector.quote(col.name)
            found = connector.execute(
                f"SELECT {quoted}, COUNT(*) FROM {sample} WHERE {quoted} IS NOT NULL "
                f"GROUP BY {quoted} ORDER BY COUNT(*) DESC, {quoted} LIMIT {TOP_VALUES}",
                (sample_rows,),
            )
            top = tuple(text for value, _ in found if (text := value_text(value, family)) is not None)
        profiles[col.name] = ColumnProfile(
            family=family,
            rows=rows,
            nulls=rows - int(count),
            distinct=distinct.get(col.name),
            min_length=_int_or_none(min_len),
            max_length=_int_or_none(max_len),
            min_value=value_text(low, family),
            max_value=value_text(high, family),
            top_values=top,
            sampled_rows=sampled,
        )
    return profiles


def key_max(connector: Connector, table: str, key_column: str) -> int | None:
    """max(key_column) in ``table`` pushed down; None for an empty table. The key must be integral."""
    value = connector.execute(f"SELECT MAX({connector.quote(key_column)}) FROM {connector.qualified(table)}")[
        0
    ][0]
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
        return int(value)
    raise BadInputError(
        f"table {table}: key column {key_column} holds {type(value).__name__} values; "
        "sequences are compared only for integer keys"
    )
