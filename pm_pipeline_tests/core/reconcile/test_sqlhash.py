"""The canonical text and row hash each database computes in SQL equal, cell by cell, the reference computed from the canonicalised values its connector reads; equal rows hash alike on PostgreSQL, MariaDB and DuckDB."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.connectors.schema import TypeFamily
from pm_pipeline.core.reconcile import sqlhash
from pm_pipeline.core.reconcile.planning import plan_table

from .sqlhash_cases import DUCK_COLUMNS, MOOD_SQL, MY_COLUMNS, PG_COLUMNS, SAME
from .sqlhash_support import (
    Col,
    DuckEngine,
    Engine,
    Mismatch,
    MyEngine,
    PgEngine,
    draw_rows,
    introspect,
    read_side,
    same_table_plan,
)

F = TypeFamily
ROWS = 25  # drawn rows per table, on top of each column's edge values
# No shrinking: a failure lists every mismatching cell with its raw value, and shrinking would
# rebuild tables on the servers for minutes.
EXAMPLES = settings(
    max_examples=6,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

_tables = itertools.count()


@pytest.fixture
def pg(pg_db: Any) -> PgEngine:
    return PgEngine(pg_db.url, setup=[f"CREATE TYPE mood AS ENUM ({MOOD_SQL})"])


@pytest.fixture
def my(mariadb_db: Any) -> MyEngine:
    return MyEngine(mariadb_db.url)


@pytest.fixture
def duck(tmp_path: Path) -> DuckEngine:
    return DuckEngine(tmp_path / "hash.duckdb", setup=[f"CREATE TYPE mood AS ENUM ({MOOD_SQL})"])


def _report(mismatches: Sequence[Mismatch]) -> str:
    by_column = itertools.groupby(sorted(mismatches, key=lambda m: m.column), key=lambda m: m.column)
    return "\n".join(f"{name}: {list(group)[:4]}" for name, group in by_column)


def _check_engine(engine: Engine, columns: list[Col], data: st.DataObject) -> None:
    table = f"t{next(_tables)}"
    rows = draw_rows(data, columns, count=ROWS)
    engine.create(table, [(c.name, c.ddl) for c in columns], rows)
    reading = read_side(engine, table, same_table_plan(introspect(engine, table), columns), "source")
    assert reading.rendered == {c.name for c in columns if c.pushed}
    assert not reading.mismatches, _report(reading.mismatches)
    for i, c in enumerate(columns, start=1):
        if c.pushed:  # no value was lost on the way in (a server may store what it rejects as NULL)
            stored = {key for key, text in reading.texts[c.name].items() if text is not None}
            assert stored == {row[0] for row in rows if row[i] is not None}, c.name


@pytest.mark.postgres
@EXAMPLES
@given(data=st.data())
def test_postgres_sql_text_and_hash_equal_reference(pg: PgEngine, data: st.DataObject) -> None:
    _check_engine(pg, PG_COLUMNS, data)


@pytest.mark.mariadb
@EXAMPLES
@given(data=st.data())
def test_mariadb_sql_text_and_hash_equal_reference(my: MyEngine, data: st.DataObject) -> None:
    _check_engine(my, MY_COLUMNS, data)


@EXAMPLES
@given(data=st.data())
def test_duckdb_sql_text_and_hash_equal_reference(duck: DuckEngine, data: st.DataObject) -> None:
    _check_engine(duck, DUCK_COLUMNS, data)


@pytest.mark.postgres
@pytest.mark.mariadb
@EXAMPLES
@given(data=st.data())
def test_equal_rows_hash_alike_across_engines(
    pg: PgEngine, my: MyEngine, duck: DuckEngine, data: st.DataObject
) -> None:
    rows = data.draw(st.lists(st.tuples(*[st.none() | c.values for c in SAME]), min_size=ROWS, max_size=ROWS))
    table = f"t{next(_tables)}"
    engines: dict[str, Engine] = {"my": my, "pg": pg, "duck": duck}
    for name, engine in engines.items():
        convert = [c.on_mariadb if name == "my" else (lambda value: value) for c in SAME]
        written = [(i, *(f(v) for f, v in zip(convert, row, strict=True))) for i, row in enumerate(rows)]
        engine.create(table, [(c.name, c.types[name]) for c in SAME], written)
    schemas = {name: introspect(engine, table) for name, engine in engines.items()}
    # A pair's comparison families do not depend on its direction: one direction per pair.
    for source, target in itertools.combinations(engines, 2):
        mapping = TableMapping(source=table, key=["id"])
        plan = plan_table(mapping=mapping, source=schemas[source], target=schemas[target])
        readings = (
            read_side(engines[source], table, plan, "source"),
            read_side(engines[target], table, plan, "target"),
        )
        for reading in readings:
            assert reading.rendered == {c.name for c in SAME}, (source, target)
            assert not reading.mismatches, _report(reading.mismatches)
        for c in SAME:
            differ = {
                i: (text, readings[1].texts[c.name][i])
                for i, text in readings[0].texts[c.name].items()
                if text != readings[1].texts[c.name][i]
            }
            assert not differ, f"{source} -> {target}, column {c.name}: {differ}"
        assert readings[0].row_hashes == readings[1].row_hashes


# Values no connector hands over faithfully, so the reference cannot be computed: their SQL text
# must still be their own, neither NULL nor the text of a real value.
UNREADABLE = [
    # Arrow's strftime wraps years past 32767 around (200000 comes out as 3392).
    pytest.param(
        "pg", "date", "200000-01-01", "200000-01-01", marks=pytest.mark.postgres, id="pg-date-year-200000"
    ),
    # A partly zero DATETIME (non-strict MariaDB) has no instant: TIMESTAMPDIFF gives NULL.
    pytest.param(
        "my",
        "datetime(6)",
        "2024-00-10 10:00:00",
        "?2024-00-10 10:00:00.000000",
        marks=pytest.mark.mariadb,
        id="mariadb-partly-zero-datetime",
    ),
]


@pytest.mark.parametrize(("engine_name", "ddl", "value", "text"), UNREADABLE)
def test_values_readers_cannot_represent_keep_their_own_text(
    request: pytest.FixtureRequest, engine_name: str, ddl: str, value: str, text: str
) -> None:
    engine: Engine = request.getfixturevalue(engine_name)
    engine.create("edge", [("c", ddl)], [(1, value), (2, None)])
    plan = same_table_plan(introspect(engine, "edge"), [])
    with connect(engine.url) as connector:
        sql = sqlhash.canonical_text_sql(engine.dialect, plan.values[0], "source", connector.quote("c"))
        assert sql is not None
        texts = connector.query_arrow(f"SELECT {sql} AS t FROM edge ORDER BY id").column("t").to_pylist()
    assert texts == [text, None]


# Digits, ':' and 'N' spell the length prefixes and the NULL marker of the fields.
_field = st.none() | st.text(st.sampled_from("0123456789:N "), max_size=6)


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(st.tuples(_field, _field, _field), min_size=2, max_size=40, unique=True))
def test_distinct_rows_never_run_into_the_same_text(rows: list[tuple[str | None, ...]]) -> None:
    columns = [pa.array([row[i] for row in rows], pa.string()) for i in range(3)]
    with duckdb.connect() as local:
        hashes = sqlhash.local_hashes(local, columns, [F.TEXT] * 3, rows=len(rows))
    assert len(set(hashes.to_pylist())) == len(rows)
