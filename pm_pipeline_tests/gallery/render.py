"""Each logical column as the type and value a standard migration tool writes on each engine.

Mappings follow pgloader's: unsigned integers widen (INT UNSIGNED -> bigint, SMALLINT UNSIGNED ->
integer), tinyint(1) -> boolean, ENUM -> an enum type named ``<table>_<column>``, SET -> text[],
YEAR -> the ``year`` domain, DATETIME and TIMESTAMP -> timestamp, JSON -> jsonb, BLOB -> bytea,
zero dates -> NULL, and every name PascalCase -> snake_case.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .dataset import ZERO, Column, Dataset, Kind, Table, noisy, snake_case

ENGINES = ("mariadb", "postgres", "sqlite", "duckdb", "parquet")

# What a source engine cannot hold becomes what it really holds there.
_REDUCED: dict[str, dict[Kind, Kind]] = {
    "sqlite": {Kind.ENUM: Kind.VARCHAR, Kind.SET: Kind.TEXT, Kind.YEAR: Kind.INT},
    "parquet": {
        Kind.ENUM: Kind.VARCHAR,
        Kind.ENUM_CHECK: Kind.VARCHAR,
        Kind.SET: Kind.LIST,
        Kind.YEAR: Kind.INT,
    },
    "postgres": {Kind.SET: Kind.LIST},
    "duckdb": {Kind.SET: Kind.LIST, Kind.YEAR: Kind.INT},
}


def _reduced_value(kind: Kind, value: Any) -> Any:
    if isinstance(value, tuple) and kind is Kind.TEXT:
        return ",".join(value)  # a SET as MariaDB returns it, in declaration order
    return value


def shape(data: Dataset, *, source: str) -> Dataset:
    """``data`` as it exists on a ``source`` engine: kinds that engine lacks reduced, zero dates
    only where MariaDB can hold them."""
    reduced = _REDUCED.get(source, {})
    tables = []
    for table in data.tables:
        columns = tuple(
            dataclasses.replace(c, kind=reduced[c.kind], length=c.length or 10) if c.kind in reduced else c
            for c in table.columns
        )
        kinds = {c.name: c.kind for c in columns}
        rows = tuple(
            {
                name: None if value is ZERO and source != "mariadb" else _reduced_value(kinds[name], value)
                for name, value in row.items()
            }
            for row in table.rows
        )
        tables.append(dataclasses.replace(table, columns=columns, rows=rows))
    return Dataset(tuple(tables))


def _labels(column: Column) -> str:
    return ", ".join(f"'{label}'" for label in column.labels)


def _mariadb_type(table: Table, column: Column) -> str:
    fixed = {
        Kind.ID: "INT UNSIGNED",
        Kind.REF: "INT UNSIGNED",
        Kind.SMALL_UNSIGNED: "SMALLINT UNSIGNED",
        Kind.FLAG: "TINYINT(1)",
        Kind.YEAR: "YEAR",
        Kind.INT: "INT",
        Kind.DECIMAL: "DECIMAL(12,2)",
        Kind.DOUBLE: "DOUBLE",
        Kind.JSON: "JSON",
        Kind.BLOB: "BLOB",
        Kind.TEXT: "TEXT",
        Kind.DATE: "DATE",
        Kind.DATETIME: "DATETIME",
        Kind.TIMESTAMP: "TIMESTAMP NULL",
    }
    if column.kind in (Kind.ENUM, Kind.ENUM_CHECK):
        return f"ENUM({_labels(column)})"
    if column.kind is Kind.SET:
        return f"SET({_labels(column)})"
    if column.kind is Kind.VARCHAR:
        return f"VARCHAR({column.length})"
    if column.kind is Kind.DATETIME and column.fraction:
        return f"DATETIME({column.fraction})"
    return fixed[column.kind]


def _postgres_type(table: Table, column: Column, source: str) -> str:
    fixed = {
        Kind.ID: "bigint",
        Kind.REF: "bigint",
        Kind.SMALL_UNSIGNED: "integer",
        Kind.FLAG: "boolean",
        Kind.SET: "text[]",
        Kind.LIST: "text[]",
        Kind.YEAR: "year",
        Kind.INT: "integer",
        Kind.DECIMAL: "numeric(12,2)",
        Kind.DOUBLE: "double precision",
        Kind.JSON: "jsonb",
        Kind.BLOB: "bytea",
        Kind.TEXT: "text",
        Kind.DATE: "date",
        Kind.DATETIME: "timestamp",
        # A Parquet instant carries its zone (timestamp[us, UTC]): it lands in timestamptz.
        Kind.TIMESTAMP: "timestamptz" if source == "parquet" else "timestamp",
    }
    if column.kind is Kind.ENUM:
        return f'"{table.target_name}_{column.target_name}"'
    if column.kind in (Kind.VARCHAR, Kind.ENUM_CHECK):
        return f"varchar({column.length or 10})"
    return fixed[column.kind]


def _sqlite_type(table: Table, column: Column) -> str:
    fixed = {
        Kind.ID: "INTEGER",
        Kind.REF: "INTEGER",
        Kind.SMALL_UNSIGNED: "SMALLINT UNSIGNED",
        Kind.FLAG: "BOOLEAN",
        Kind.SET: "TEXT",
        Kind.YEAR: "INTEGER",
        Kind.INT: "INTEGER",
        Kind.DECIMAL: "DECIMAL(12,2)",
        Kind.DOUBLE: "DOUBLE",
        Kind.JSON: "TEXT",
        Kind.BLOB: "BLOB",
        Kind.TEXT: "TEXT",
        Kind.DATE: "DATE",
        Kind.DATETIME: "DATETIME",
        Kind.TIMESTAMP: "TIMESTAMP",
    }
    if column.kind in (Kind.VARCHAR, Kind.ENUM, Kind.ENUM_CHECK):
        return f"VARCHAR({column.length or 10})"
    return fixed[column.kind]


def _duckdb_type(table: Table, column: Column) -> str:
    fixed = {
        Kind.ID: "BIGINT",
        Kind.REF: "BIGINT",
        Kind.SMALL_UNSIGNED: "INTEGER",
        Kind.FLAG: "BOOLEAN",
        Kind.LIST: "VARCHAR[]",
        Kind.YEAR: "INTEGER",
        Kind.INT: "INTEGER",
        Kind.DECIMAL: "DECIMAL(12,2)",
        Kind.DOUBLE: "DOUBLE",
        Kind.JSON: "JSON",
        Kind.BLOB: "BLOB",
        Kind.TEXT: "VARCHAR",
        Kind.DATE: "DATE",
        Kind.DATETIME: "TIMESTAMP",
        Kind.TIMESTAMP: "TIMESTAMP",
    }
    if column.kind is Kind.ENUM:
        return f'"{table.target_name}_{column.target_name}"'
    if column.kind in (Kind.VARCHAR, Kind.ENUM_CHECK):
        return f"VARCHAR({column.length or 10})"
    return fixed[column.kind]


def column_type(engine: str, table: Table, column: Column, *, source: str) -> str:
    """The declared type of ``column`` on ``engine`` in a migration from ``source``."""
    if engine == "mariadb":
        return _mariadb_type(table, column)
    if engine == "postgres":
        return _postgres_type(table, column, source)
    if engine == "sqlite":
        return _sqlite_type(table, column)
    return _duckdb_type(table, column)


def _moment(value: dt.datetime, engine: str, column: Column, source: str) -> Any:
    if engine == "sqlite":
        return value.isoformat(sep=" ")
    if column.kind is Kind.TIMESTAMP and source == "parquet":
        return value.replace(tzinfo=dt.UTC)
    return value


def engine_value(engine: str, column: Column, value: Any, *, source: str, target_side: bool) -> Any:
    """``value`` as bound to a parameter of ``engine`` (a target side carries the double's noise)."""
    if value is None:
        return None
    if value is ZERO:  # a correct migration turns a zero date into NULL
        if engine != "mariadb":
            return None
        return "0000-00-00" if column.kind is Kind.DATE else "0000-00-00 00:00:00"
    if column.kind is Kind.DOUBLE and target_side:
        return noisy(value)
    if isinstance(value, dict):
        # An application writes JSON its own way; jsonb and DuckDB keep their own order and spacing.
        compact = engine == "sqlite"
        return json.dumps(value, ensure_ascii=False, separators=(",", ":") if compact else None)
    if isinstance(value, tuple):
        return ",".join(value) if engine in ("mariadb", "sqlite") else list(value)
    if isinstance(value, bool):
        return value if engine in ("postgres", "duckdb", "parquet") else int(value)
    if isinstance(value, dt.datetime):
        return _moment(value, engine, column, source)
    if isinstance(value, dt.date) and engine == "sqlite":
        return value.isoformat()
    if isinstance(value, Decimal) and engine == "sqlite":
        return str(value)
    return value


QUOTE: dict[str, Callable[[str], str]] = {
    "mariadb": lambda name: f"`{name}`",
    "postgres": lambda name: f'"{name}"',
    "sqlite": lambda name: f'"{name}"',
    "duckdb": lambda name: f'"{name}"',
}


@dataclass(frozen=True)
class Naming:
    """Which names a side uses: the legacy PascalCase ones or the migrated snake_case ones."""

    snake: bool

    def table(self, table: Table) -> str:
        return table.target_name if self.snake else table.name

    def column(self, column: Column | str) -> str:
        name = column if isinstance(column, str) else column.name
        return snake_case(name) if self.snake else name
