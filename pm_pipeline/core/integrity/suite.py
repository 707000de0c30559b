"""Expectations for a target table: generated from the source's profile, plus those the spec declares.

The profile is pushed down into the source (one aggregate scan, then one small DISTINCT query per
low-cardinality column): what the source guarantees in its data (no NULLs, unique values, a small
set of values, a numeric range, string lengths) the target must keep.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import Column, TableSchema, TypeFamily
from pm_pipeline.core.integrity.settings import IntegritySettings

F = TypeFamily
_RANGED = {F.INTEGER, F.DECIMAL}
_LENGTHS = {F.TEXT}
_SETS = {F.TEXT, F.INTEGER, F.ENUM}
_CHAR_LENGTH = {"postgresql": "char_length", "mysql": "CHAR_LENGTH"}  # duckdb, sqlite: length
_DISTINCT = {F.INTEGER, F.DECIMAL, F.TEXT, F.ENUM, F.DATE, F.TIMESTAMP, F.TIMESTAMPTZ, F.UUID}


@dataclass(frozen=True)
class ExpectationCall:
    """One expectation on one target table: its GX type, keyword arguments, and where it came from."""

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


def _number(value: Any, family: TypeFamily) -> int | float:
    if family is F.INTEGER:
        return int(value)
    return float(decimal.Decimal(str(value)))


def _profile_sql(source: Connector, table: str, columns: list[Column]) -> str:
    parts = ["COUNT(*)"]
    for col in columns:
        q = source.quote(col.name)
        parts.append(f"COUNT({q})")
        parts.append(f"COUNT(DISTINCT {q})" if col.family in _DISTINCT else "NULL")
        parts += [f"MIN({q})", f"MAX({q})"] if col.family in _RANGED else ["NULL", "NULL"]
        if col.family in _LENGTHS:
            length = f"{_CHAR_LENGTH.get(source.engine, 'length')}({q})"
            parts += [f"MIN({length})", f"MAX({length})"]
        else:
            parts += ["NULL", "NULL"]
    return f"SELECT {', '.join(parts)} FROM {source.qualified(table)}"


def profile_expectations(
    source: Connector,
    *,
    mapping: TableMapping,
    source_schema: TableSchema,
    target_schema: TableSchema,
    value_set_max: int,
) -> list[ExpectationCall]:
    """Expectations the source's data satisfies, spelled with target column names."""
    target_names = {col.name for col in target_schema.columns}
    pairs = [
        (col, mapping.renames.get(col.name, col.name))
        for col in source_schema.columns
        if col.name not in mapping.ignore and mapping.renames.get(col.name, col.name) in target_names
    ]
    if not pairs:
        return []
    row = source.execute(_profile_sql(source, mapping.source, [col for col, _ in pairs]))[0]
    rows = int(row[0])
    if rows == 0:
        return []
    calls: list[ExpectationCall] = []
    for index, (col, name) in enumerate(pairs):
        count, distinct, low, high, short, long = row[1 + 6 * index : 7 + 6 * index]

        def add(kind: str, **kwargs: Any) -> None:
            calls.append(ExpectationCall(type=kind, kwargs={"column": name, **kwargs}, origin="profile"))  # noqa: B023

        if int(count) == rows:
            add("expect_column_values_to_not_be_null")
        if distinct is not None and int(distinct) == int(count) and int(count) > 1:
            add("expect_column_values_to_be_unique")
        if col.enum_values:
            add("expect_column_values_to_be_in_set", value_set=list(col.enum_values))
        elif (
            col.family in _SETS
            and distinct is not None
            and 0 < int(distinct) <= value_set_max
            and int(distinct) * 2 <= int(count)  # values repeat: a category, not an identifier
        ):
            found = source.execute(
                f"SELECT DISTINCT {source.quote(col.name)} FROM {source.qualified(mapping.source)} "
                f"WHERE {source.quote(col.name)} IS NOT NULL"
            )
            values = sorted(int(v) if col.family is F.INTEGER else str(v) for (v,) in found)
            add("expect_column_values_to_be_in_set", value_set=values)
        if low is not None and high is not None:
            add(
                "expect_column_values_to_be_between",
                min_value=_number(low, col.family),
                max_value=_number(high, col.family),
            )
        if short is not None and long is not None:
            add("expect_column_value_lengths_to_be_between", min_value=int(short), max_value=int(long))
    return calls


def build_suite(
    source: Connector,
    *,
    mapping: TableMapping,
    settings: IntegritySettings,
    source_schema: TableSchema,
    target_schema: TableSchema,
) -> list[ExpectationCall]:
    """The whole suite for one target table: generated (when enabled) then declared."""
    calls: list[ExpectationCall] = []
    if settings.gx.generate:
        calls += profile_expectations(
            source,
            mapping=mapping,
            source_schema=source_schema,
            target_schema=target_schema,
            value_set_max=settings.gx.value_set_max,
        )
    for declared in settings.expectations.get(mapping.target_name, []):
        calls.append(ExpectationCall(type=declared.type, kwargs=declared.kwargs, origin="spec"))
    return calls
