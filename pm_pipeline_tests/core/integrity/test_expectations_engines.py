"""Generated expectations on the other engine pairs (PostgreSQL -> MariaDB, SQLite -> DuckDB, DuckDB ->
SQLite): values are compared byte for byte whatever the collation, one scan per side, and a
correct copy passes while a changed value fails."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pytest

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.integrity import parse_integrity
from pm_pipeline.core.integrity.expectations import ExpectationRun, run_expectations
from pm_pipeline_tests.support.expectations import run_table_expectations


def _run(source_url: str, target_url: str, table: str = "items") -> ExpectationRun:
    return run_table_expectations(source_url, target_url, table=table)


def _failed(run: ExpectationRun) -> set[tuple[str | None, str]]:
    return {(f.column, (f.rule or "").split("(")[0]) for f in run.findings}


PG_ITEMS = (
    "CREATE TABLE items (id int PRIMARY KEY, code varchar(8) NOT NULL, grade varchar(4) NOT NULL)",
    "INSERT INTO items SELECT g, CASE WHEN g % 2 = 0 THEN 'k' ELSE 'K' END || g, "
    "(ARRAY['a', 'A', 'b'])[1 + g % 3] FROM generate_series(1, 24) g",
)
MARIADB_ITEMS = (
    # a case-insensitive collation: 'a' = 'A', 'k1' = 'K1' for the target's own comparisons
    "CREATE TABLE items (id int PRIMARY KEY, code varchar(8) NOT NULL, grade varchar(4) NOT NULL) "
    "COLLATE utf8mb4_general_ci",
    "INSERT INTO items SELECT seq, CONCAT(IF(seq % 2 = 0, 'k', 'K'), seq), ELT(1 + seq % 3, 'a', 'A', 'b') "
    "FROM seq_1_to_24",
)


@pytest.mark.postgres
@pytest.mark.mariadb
@pytest.mark.parametrize(
    ("defect", "expected"),
    [
        # a correct copy into a case-insensitive target: 'a' and 'A' stay two members of the set
        (None, set()),
        # a case change the collation would hide: 'B' is not 'b'
        ("UPDATE items SET grade = 'B' WHERE id = 2", {("grade", "expect_column_values_to_be_in_set")}),
    ],
    ids=["correct", "case-changed"],
)
def test_postgres_to_mariadb_compares_bytes_not_collation(
    pg_db, mariadb_db, defect: str | None, expected: set[tuple[str, str]]
) -> None:
    pg_db.execute(*PG_ITEMS)
    mariadb_db.execute(*MARIADB_ITEMS, *([defect] if defect else []))
    run = _run(pg_db.url, mariadb_db.url)
    assert _failed(run) == expected
    assert run.errors == 0
    assert run.evaluated >= 6  # not-null x3, unique id and code, in_set grade, lengths


def _sqlite(path: Path, *statements: str) -> str:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
    return f"sqlite:///{path}"


def _duckdb(path: Path, *statements: str) -> str:
    conn = duckdb.connect(str(path))
    for statement in statements:
        conn.execute(statement)
    conn.close()
    return f"duckdb:///{path}"


ROWS = ", ".join(
    f"({i}, '{['new', 'paid', 'Paid'][i % 3]}', {i % 5}.25, '2024-01-{1 + i % 28:02d}')" for i in range(1, 25)
)
SQLITE_ITEMS = (
    # NOCASE: SQLite itself would call 'paid' and 'Paid' one value
    "CREATE TABLE items (id INTEGER PRIMARY KEY, status TEXT COLLATE NOCASE NOT NULL, amount NUMERIC, day DATE)",
    f"INSERT INTO items VALUES {ROWS}",
)
DUCKDB_ITEMS = (
    "CREATE TABLE items (id INTEGER PRIMARY KEY, status VARCHAR NOT NULL, amount DECIMAL(8,2), day DATE)",
    f"INSERT INTO items VALUES {ROWS}",
)


@pytest.mark.parametrize(
    ("defect", "expected"),
    [
        # a correct copy: numbers, text and dates in canonical form on both engines
        (None, set()),
        # an amount beyond the source's range, a status the source never held
        (
            "UPDATE items SET amount = 9.5, status = 'lost' WHERE id = 4",
            {
                ("amount", "expect_column_values_to_be_between"),
                ("status", "expect_column_values_to_be_in_set"),
            },
        ),
    ],
    ids=["correct", "changed"],
)
def test_sqlite_to_duckdb(tmp_path: Path, defect: str | None, expected: set[tuple[str, str]]) -> None:
    source = _sqlite(tmp_path / "source.db", *SQLITE_ITEMS)
    target = _duckdb(tmp_path / "target.duckdb", *DUCKDB_ITEMS, *([defect] if defect else []))
    run = _run(source, target)
    assert _failed(run) == expected
    assert run.errors == 0 and run.runner == "sql"
    assert run.evaluated >= 5


@pytest.mark.parametrize(
    ("defect", "expected"),
    [
        # a correct copy into SQLite, whose NOCASE column must not merge 'paid' and 'Paid'
        (None, set()),
        # a NULL where the source had none
        ("UPDATE items SET status = NULL WHERE id = 9", {("status", "expect_column_values_to_not_be_null")}),
    ],
    ids=["correct", "null"],
)
def test_duckdb_to_sqlite(tmp_path: Path, defect: str | None, expected: set[tuple[str, str]]) -> None:
    source = _duckdb(tmp_path / "source.duckdb", *DUCKDB_ITEMS)
    sqlite_items = (SQLITE_ITEMS[0].replace(" NOT NULL", ""), SQLITE_ITEMS[1])
    target = _sqlite(tmp_path / "target.db", *sqlite_items, *([defect] if defect else []))
    run = _run(source, target)
    assert _failed(run) == expected
    assert run.errors == 0


RULES_SOURCE = (
    "CREATE TABLE items (id INTEGER PRIMARY KEY, amount DECIMAL(8,3), label VARCHAR, seen TIMESTAMP)",
    "INSERT INTO items SELECT g, g + 0.255, '  l' || (g % 3), TIMESTAMP '2024-03-01 10:00:00' + g * INTERVAL 1 HOUR "
    "FROM range(1, 25) t(g)",
)
# rounded to cents (abs_tolerance), trimmed (trim), naive times written one hour earlier (zones)
RULES_TARGET = (
    "CREATE TABLE items (id INTEGER PRIMARY KEY, amount DECIMAL(8,2), label VARCHAR, seen TIMESTAMP)",
    "INSERT INTO items SELECT g, round(g + 0.255, 2), 'l' || (g % 3), "
    "TIMESTAMP '2024-03-01 09:00:00' + g * INTERVAL 1 HOUR FROM range(1, 25) t(g)",
)
RULES_MAPPING = TableMapping.model_validate(
    {"source": "items", "columns": {"amount": {"abs_tolerance": 0.01}, "label": {"trim": True}}}
)


@pytest.mark.parametrize(
    "zones",
    [
        # naive times written in Paris (UTC+1), read in UTC: every value moved, none is wrong
        ("Europe/Paris", "UTC"),
        # the zones are not known: a range could be an hour off
        (None, None),
    ],
    ids=["different-zones", "unknown-zones"],
)
def test_declared_rules_and_zones_weaken_what_is_expected(
    tmp_path: Path, zones: tuple[str | None, str | None]
) -> None:
    source_url = _duckdb(tmp_path / "source.duckdb", *RULES_SOURCE)
    target_url = _duckdb(tmp_path / "target.duckdb", *RULES_TARGET)
    with connect(source_url) as source, connect(target_url) as target:
        run = run_expectations(
            source=source,
            target=target,
            mapping=RULES_MAPPING,
            settings=parse_integrity({}),
            source_schema=source.introspect("items"),
            target_schema=target.introspect("items"),
            source_zone=zones[0],
            target_zone=zones[1],
        )
    assert run.findings == ()
    assert run.evaluated >= 5  # not-null x4, unique id and seen, the widened amount range


def test_timestamp_range_in_one_zone_finds_a_shift(tmp_path: Path) -> None:
    # the same zone on both sides: a naive time moved by an hour leaves the source's range
    source_url = _duckdb(tmp_path / "source.duckdb", *RULES_SOURCE)
    target_url = _duckdb(
        tmp_path / "target.duckdb",
        *RULES_SOURCE,
        "UPDATE items SET seen = seen + INTERVAL 1 HOUR WHERE id = 24",
        "UPDATE items SET amount = amount + 0.02 WHERE id = 24",  # beyond the declared 0.01
    )
    with connect(source_url) as source, connect(target_url) as target:
        run = run_expectations(
            source=source,
            target=target,
            mapping=RULES_MAPPING,
            settings=parse_integrity({}),
            source_schema=source.introspect("items"),
            target_schema=target.introspect("items"),
            source_zone="UTC",
            target_zone="UTC",
        )
    assert _failed(run) == {
        ("seen", "expect_column_values_to_be_between"),
        ("amount", "expect_column_values_to_be_between"),
    }
