"""Property: on random tables and random edits, reconciliation reports exactly the edits (missing keys, extra keys, changed cells)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.findings import Category

from .engines import Col, DuckSide, Pair, PgSide, Side, SqliteSide

COLUMNS = [Col("id", "int"), Col("txt", "text"), Col("amount", "dec"), Col("ratio", "float"), Col("at", "ts")]
VALUE_COLUMNS = [c.name for c in COLUMNS[1:]]

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8)
decimals = st.integers(-(10**8), 10**8).map(lambda n: Decimal(n).scaleb(-4))
# Multiples of 1/8 are exact in binary, and distinct ones differ far beyond the float tolerance.
floats = st.integers(-(10**6), 10**6).map(lambda n: n / 8)
instants = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1)).map(
    lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)
)
CELLS = {"txt": texts, "amount": decimals, "ratio": floats, "at": instants}


def _row(draw: st.DrawFn, key: int) -> tuple[Any, ...]:
    return (key, *(draw(st.none() | CELLS[name]) for name in VALUE_COLUMNS))


@st.composite
def tables_and_edits(
    draw: st.DrawFn, max_rows: int = 30
) -> tuple[dict[int, tuple[Any, ...]], dict[int, tuple[Any, ...]]]:
    """A source table and the target after random deletes, inserts, cell updates and NULLings."""
    keys = draw(st.lists(st.integers(1, 1000), max_size=max_rows, unique=True))
    source = {key: _row(draw, key) for key in keys}
    target = dict(source)
    for _ in range(draw(st.integers(0, 8))):
        edit = draw(st.sampled_from(["delete", "insert", "update", "null"]))
        if edit == "insert":
            key = draw(st.integers(1001, 2000))
            target[key] = _row(draw, key)
            continue
        if not target:
            continue
        key = draw(st.sampled_from(sorted(target)))
        if edit == "delete":
            del target[key]
            continue
        column = draw(st.integers(1, len(VALUE_COLUMNS)))
        row = list(target[key])
        row[column] = None if edit == "null" else draw(CELLS[VALUE_COLUMNS[column - 1]])
        target[key] = tuple(row)
    return source, target


_names = itertools.count()


def _check(pair: Pair, source: dict[int, tuple[Any, ...]], target: dict[int, tuple[Any, ...]]) -> None:
    name = f"t{next(_names)}"
    pair.source.create(name, COLUMNS, list(source.values()), key=["id"])
    pair.target.create(name, COLUMNS, list(target.values()), key=["id"])
    result = pair.reconcile(TableMapping(source=name, key=["id"]))

    def keys(category: Category) -> set[int]:
        return {f.key["id"] for f in result.findings if f.category is category and f.key}

    assert keys(Category.MISSING_ROW) == source.keys() - target.keys()
    assert keys(Category.EXTRA_ROW) == target.keys() - source.keys()
    changed = {
        (key, column)
        for key in source.keys() & target.keys()
        for index, column in enumerate(VALUE_COLUMNS, start=1)
        if source[key][index] != target[key][index]
    }
    found = {
        (f.key["id"], f.column) for f in result.findings if f.category is Category.VALUE_MISMATCH and f.key
    }
    assert found == changed
    assert result.changed_rows == len({key for key, _ in changed})
    assert not (keys(Category.DUPLICATE_KEY))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=tables_and_edits())
def test_duckdb_to_duckdb_reports_exactly_the_edits(
    tmp_path: Path, data: tuple[dict[int, Any], dict[int, Any]]
) -> None:
    _check(Pair("duckdb->duckdb", DuckSide(tmp_path / "s.duckdb"), DuckSide(tmp_path / "t.duckdb")), *data)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=tables_and_edits())
def test_sqlite_to_duckdb_reports_exactly_the_edits(
    tmp_path: Path, data: tuple[dict[int, Any], dict[int, Any]]
) -> None:
    source: Side = SqliteSide(tmp_path / "s.db")
    _check(Pair("sqlite->duckdb", source, DuckSide(tmp_path / "t.duckdb")), *data)


@pytest.mark.postgres
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=tables_and_edits(max_rows=15))
def test_postgres_to_postgres_reports_exactly_the_edits(
    pg_db: Any, pg_db2: Any, data: tuple[dict[int, Any], dict[int, Any]]
) -> None:
    _check(Pair("postgres->postgres", PgSide(pg_db.url), PgSide(pg_db2.url)), *data)
