"""Tables on real engines whose SQL canonical text and row hashes are checked against the reference (test support)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa
from hypothesis import strategies as st

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.canonical.values import Side, canonicalize
from pm_pipeline.core.config.spec import ColumnRule, TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import TableSchema, TypeFamily
from pm_pipeline.core.dialects import Dialect, dialect_for
from pm_pipeline.core.reconcile import sqlhash
from pm_pipeline.core.reconcile.planning import TablePlan, plan_table


@dataclass(frozen=True)
class Col:
    """A column of a test table: its type in one engine, its values, and how it is compared."""

    name: str
    ddl: str
    values: st.SearchStrategy[Any]
    edges: tuple[Any, ...] = ()  # always inserted: the cases a random draw rarely reaches
    twin: tuple[str, TypeFamily] | None = None  # compared with a target column of this type
    rule: ColumnRule | None = None
    pushed: bool = True  # whether the engine is expected to render it in SQL


class Engine:
    """One real engine holding test tables."""

    dialect: Dialect

    @property
    def url(self) -> str:
        raise NotImplementedError

    def create(self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError


class PgEngine(Engine):
    dialect = dialect_for("postgresql")

    def __init__(self, url: str, *, setup: Sequence[str] = ()) -> None:
        import psycopg

        self._url = url
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in setup:
                conn.execute(statement)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        return self._url

    def create(self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> None:
        import psycopg

        with psycopg.connect(self._url, autocommit=True) as conn:
            conn.execute(_ddl(table, columns, '"'))  # type: ignore[arg-type]
            marks = ", ".join(["%s"] * (len(columns) + 1))
            with conn.cursor() as cur:
                cur.executemany(f'INSERT INTO "{table}" VALUES ({marks})', [list(r) for r in rows])  # type: ignore[arg-type]


class MyEngine(Engine):
    dialect = dialect_for("mysql")

    def __init__(self, url: str) -> None:
        self._url = url

    @property
    def url(self) -> str:
        return self._url

    def create(self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> None:
        import pymysql

        parts = urlsplit(self._url)
        conn = pymysql.connect(
            host=parts.hostname,
            port=parts.port,
            user="root",
            password="",
            database=parts.path.lstrip("/"),
            autocommit=True,
            charset="utf8mb4",
        )
        try:
            with conn.cursor() as cur:
                # Zero dates are only accepted without the strict modes, as legacy schemas hold them.
                cur.execute("SET time_zone = '+00:00', sql_mode = ''")
                cur.execute(_ddl(table, columns, "`"))
                marks = ", ".join(["%s"] * (len(columns) + 1))
                cur.executemany(
                    f"INSERT INTO `{table}` VALUES ({marks})", [[_my_value(v) for v in r] for r in rows]
                )
        finally:
            conn.close()


def _my_value(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)  # the session is in UTC
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


class DuckEngine(Engine):
    dialect = dialect_for("duckdb")

    def __init__(self, path: Path, *, setup: Sequence[str] = ()) -> None:
        self.path = path
        with duckdb.connect(str(path)) as conn:
            for statement in setup:
                conn.execute(statement)

    @property
    def url(self) -> str:
        return f"duckdb:///{self.path}"

    def create(self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> None:
        with duckdb.connect(str(self.path)) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            conn.execute(_ddl(table, columns, '"'))
            # One statement for all rows: executemany prepares and runs one statement per row.
            marks = ", ".join(["(" + ", ".join(["?"] * (len(columns) + 1)) + ")"] * len(rows))
            conn.execute(f'INSERT INTO "{table}" VALUES {marks}', [_duck_value(v) for r in rows for v in r])


def _duck_value(value: Any) -> Any:
    # A Decimal parameter of 38 digits is bound with less precision: its text is exact.
    return format(value, "f") if isinstance(value, Decimal) else value


def _ddl(table: str, columns: Sequence[tuple[str, str]], quote: str) -> str:
    parts = [f"{quote}{name}{quote} {ddl}" for name, ddl in columns]
    return f"CREATE TABLE {quote}{table}{quote} ({quote}id{quote} integer PRIMARY KEY, {', '.join(parts)})"


def draw_rows(data: st.DataObject, columns: Sequence[Col], *, count: int) -> list[tuple[Any, ...]]:
    """Rows ``(id, cell, ...)``: each column's edge values, then ``count`` drawn values or NULLs."""
    cells = [
        [*c.edges, *data.draw(st.lists(st.none() | c.values, min_size=count, max_size=count))]
        for c in columns
    ]
    height = max(len(column) for column in cells)
    padded = [column + [None] * (height - len(column)) for column in cells]
    return [(i, *row) for i, row in enumerate(zip(*padded, strict=True))]


def same_table_plan(schema: TableSchema, columns: Sequence[Col]) -> TablePlan:
    """The table compared with itself, except that a column with a twin meets a target of the twin's type."""
    twins = {c.name: c.twin for c in columns if c.twin is not None}
    target = dataclasses.replace(
        schema,
        columns=tuple(
            dataclasses.replace(column, data_type=twins[column.name][0], family=twins[column.name][1])
            if column.name in twins
            else column
            for column in schema.columns
        ),
    )
    rules = {c.name: c.rule for c in columns if c.rule is not None}
    mapping = TableMapping(source=schema.name, key=["id"], columns=rules)
    return plan_table(mapping=mapping, source=schema, target=target)


@dataclass(frozen=True)
class Mismatch:
    column: str
    row: int
    raw: Any
    sql: Any
    reference: Any


def reference_text(canonical: pa.Array) -> list[str | None]:
    """The canonical text of each canonical value, written independently of ``sqlhash``."""
    values = canonical.to_pylist()
    if pa.types.is_binary(canonical.type):
        return [None if v is None else v.hex() for v in values]
    return [None if v is None else str(v) for v in values]


def introspect(engine: Engine, table: str) -> TableSchema:
    with connect(engine.url) as connector:
        return connector.introspect(table)


# Key buckets (count, stride) each dialect computes in SQL: a partition of 5, and buckets of 7
# inside a partition of 3 (the quotient of the hash by 3, modulo 7).
BUCKETINGS = {"__partition": (5, 1), "__bucket": (7, 3)}


@dataclass(frozen=True)
class Reading:
    """One side of a plan read raw and as SQL canonical text in one query, checked against the reference."""

    rendered: frozenset[str]  # value columns the engine renders in SQL (only these are read)
    mismatches: tuple[Mismatch, ...]
    row_hashes: dict[int, int]  # id -> the engine's hash of the rendered value columns
    texts: dict[str, dict[int, str | None]]  # column -> id -> the engine's canonical text


def read_side(engine: Engine, table: str, plan: TablePlan, side: Side) -> Reading:
    """SQL text of every rendered column, row hash and key hash, each compared with the reference."""
    with connect(engine.url) as connector:
        schema = connector.introspect(table)
        texts = {p.name: _text_sql(engine.dialect, connector, p, side) for p in plan.all_plans}
        pushed = [p for p in plan.values if texts[p.name] is not None]
        selects = [f"{connector.quote(_name(plan.keys[0], side))} AS {connector.quote('__id')}"]
        for p in (*plan.keys, *pushed):
            column = schema.column(_name(p, side))
            selects.append(f"{connector.select_expression(column)} AS {connector.quote(p.name)}")
            selects.append(f"{texts[p.name]} AS {connector.quote(p.name + '__text')}")
        for name, plans in (("__row", pushed), ("__key", plan.keys)):
            selects.append(
                f"{sqlhash.row_hash_sql(engine.dialect, plans, side, connector.quote)} AS {connector.quote(name)}"
            )
        key_hash = sqlhash.row_hash_sql(engine.dialect, plan.keys, side, connector.quote)
        assert key_hash is not None
        for name, (count, stride) in BUCKETINGS.items():
            bucket = sqlhash.bucket_sql(engine.dialect, key_hash, count, stride)
            selects.append(f"{bucket} AS {connector.quote(name)}")
        result = connector.query_arrow(f"SELECT {', '.join(selects)} FROM {connector.qualified(table)}")
    ids = result.column("__id").to_pylist()
    mismatches = _compare_texts(result, ids, [*plan.keys, *pushed], side)
    mismatches += _compare_hash(result, ids, "__row", pushed, side)
    mismatches += _compare_hash(result, ids, "__key", plan.keys, side)
    for name, bucketing in BUCKETINGS.items():
        mismatches += _compare_hash(result, ids, name, plan.keys, side, bucketing)
    return Reading(
        rendered=frozenset(p.name for p in pushed),
        mismatches=tuple(mismatches),
        row_hashes=dict(zip(ids, result.column("__row").to_pylist(), strict=True)),
        texts={
            p.name: dict(zip(ids, result.column(p.name + "__text").to_pylist(), strict=True)) for p in pushed
        },
    )


def _name(plan: ColumnPlan, side: Side) -> str:
    return plan.source.name if side == "source" else plan.target.name


def _text_sql(dialect: Dialect, connector: Connector, plan: ColumnPlan, side: Side) -> str | None:
    return sqlhash.canonical_text_sql(dialect, plan, side, connector.quote(_name(plan, side)))


def _shown(array: pa.ChunkedArray, index: int) -> Any:
    try:
        return array[index].as_py()
    except (OverflowError, ValueError):  # dates and instants beyond Python's years 1..9999
        return array.slice(index, 1).to_string()


def _canonical(result: pa.Table, plan: ColumnPlan, side: Side) -> pa.Array:
    return canonicalize(result.column(plan.name), plan=plan, side=side, strict=False)


def _compare_texts(
    result: pa.Table, ids: list[int], plans: Sequence[ColumnPlan], side: Side
) -> list[Mismatch]:
    mismatches = []
    for p in plans:
        raw = result.column(p.name)
        sql = result.column(p.name + "__text").to_pylist()
        for i, (got, want) in enumerate(zip(sql, reference_text(_canonical(result, p, side)), strict=True)):
            if got != want:
                mismatches.append(Mismatch(p.name, ids[i], _shown(raw, i), got, want))
    return mismatches


def _compare_hash(
    result: pa.Table,
    ids: list[int],
    name: str,
    plans: Sequence[ColumnPlan],
    side: Side,
    bucketing: tuple[int, int] | None = None,
) -> list[Mismatch]:
    canonical = [_canonical(result, p, side) for p in plans]
    count, stride = bucketing or (None, 1)
    with duckdb.connect() as local:
        reference = sqlhash.local_hashes(
            local,
            canonical,
            [p.family for p in plans],
            rows=result.num_rows,
            bucket_count=count,
            bucket_stride=stride,
        )
    pairs = zip(result.column(name).to_pylist(), reference.to_pylist(), strict=True)
    return [Mismatch(name, ids[i], None, got, want) for i, (got, want) in enumerate(pairs) if got != want]
