"""Types judged by what each engine declares, on real servers: PostgreSQL domains, SQLite declared names, MariaDB YEAR and TIMESTAMP."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import Category, Severity
from pm_pipeline.core.reconcile import reconcile_table
from pm_pipeline.core.schema import SchemaComparison, compare_schemas, profile_columns


def compare(source_url: str, target_url: str, table: str = "t") -> SchemaComparison:
    with connect(source_url) as source, connect(target_url) as target:
        source_schema, target_schema = source.introspect(table), target.introspect(table)
        return compare_schemas(
            table=table,
            source=source_schema,
            target=target_schema,
            source_engine=source.engine,
            target_engine=target.engine,
            source_profiles=profile_columns(source, table, source_schema),
            target_profiles=profile_columns(target, table, target_schema),
        )


def by_column(
    result: SchemaComparison, *, info: bool = True
) -> dict[str | None, set[tuple[Category, Severity]]]:
    found: dict[str | None, set[tuple[Category, Severity]]] = {}
    for finding in result.findings:
        if finding.severity is Severity.INFO and not info:
            continue
        found.setdefault(finding.column, set()).add((finding.category, finding.severity))
    return found


@pytest.mark.postgres
@pytest.mark.mariadb
def test_mariadb_year_and_timestamp_into_postgresql_domain_and_timestamp(mariadb_db: Any, pg_db: Any) -> None:
    # YEAR -> a `year` domain was "narrowed: integer width unknown"; TIMESTAMP -> timestamp was an
    # ERROR on every table although the connectors read both sides in UTC.
    mariadb_db.execute(
        "CREATE TABLE t (id int PRIMARY KEY, born year, seen timestamp NULL, at datetime)",
        "INSERT INTO t VALUES (1, 1999, '2024-01-01 10:00:00', '2024-01-01 10:00:00'), (2, NULL, NULL, NULL)",
    )
    pg_db.execute(
        "CREATE DOMAIN year AS integer CHECK (VALUE BETWEEN 1901 AND 2155)",
        "CREATE DOMAIN small_year AS smallint",
        "CREATE TABLE t (id int PRIMARY KEY, born year, seen timestamp(0), at timestamp(0))",
        "INSERT INTO t VALUES (1, 1999, '2024-01-01 10:00:00', '2024-01-01 10:00:00'), (2, NULL, NULL, NULL)",
    )
    result = compare(mariadb_db.url, pg_db.url)
    assert by_column(result) == {"seen": {(Category.TYPE_CHANGED, Severity.INFO)}}
    (seen,) = result.findings
    assert seen.rule == "mysql_timestamp_is_instant + mysql_timestamp_to_timestamp"
    # The values agree in UTC; reconciliation still reports the one that does not.
    pg_db.execute("UPDATE t SET seen = seen + interval '1 hour' WHERE id = 1")
    with connect(mariadb_db.url) as source, connect(pg_db.url) as target:
        values = reconcile_table(source=source, target=target, mapping=TableMapping(source="t"))
    assert [(f.category, f.column, f.key) for f in values.findings] == [
        (Category.VALUE_MISMATCH, "seen", {"id": 1})
    ]
    # A YEAR fits a smallint domain too; a TIMESTAMP losing its fractions still narrows.
    mariadb_db.execute("ALTER TABLE t MODIFY seen timestamp(3) NULL")
    pg_db.execute("ALTER TABLE t ALTER born TYPE small_year")
    assert by_column(compare(mariadb_db.url, pg_db.url)) == {
        "seen": {(Category.TYPE_NARROWED, Severity.ERROR)}
    }


@pytest.mark.postgres
def test_sqlite_declared_types_into_postgresql(tmp_path: Path, pg_db: Any) -> None:
    # Every SQLite integer was 64-bit (its storage), so no SQLite -> PostgreSQL migration passed.
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as con:
        con.executescript(
            "CREATE TABLE t (id INT PRIMARY KEY, qty SMALLINT UNSIGNED, n INT, name VARCHAR(40),"
            " at DATETIME(6), amount DECIMAL(10,2), paid BOOLEAN, big BIGINT);"
            "INSERT INTO t VALUES (1, 65535, -3, 'Zoë', '2024-01-01 10:00:00', '12.50', 1, 9007199254740993);"
        )
    pg_db.execute(
        "CREATE TABLE t (id integer PRIMARY KEY, qty integer, n integer, name varchar(40), at timestamp,"
        " amount numeric(10,2), paid boolean, big bigint)",
        "INSERT INTO t VALUES (1, 65535, -3, 'Zoë', '2024-01-01 10:00:00', 12.50, true, 9007199254740993)",
    )
    result = compare(f"sqlite:///{path}", pg_db.url)
    assert not [f for f in result.findings if f.severity is not Severity.INFO], result.findings
    # Declared widths still tell a real narrowing: 16 unsigned bits do not fit a smallint.
    pg_db.execute("ALTER TABLE t ALTER qty TYPE smallint USING 1, ALTER big TYPE integer USING 1")
    assert by_column(compare(f"sqlite:///{path}", pg_db.url), info=False) == {
        "qty": {(Category.TYPE_NARROWED, Severity.ERROR)},
        "big": {(Category.TYPE_NARROWED, Severity.ERROR)},
    }


@pytest.mark.mariadb
def test_mariadb_unsigned_integers_into_sqlite_integers(tmp_path: Path, mariadb_db: Any) -> None:
    # As a target, SQLite holds any 64-bit integer whatever the declared name: int unsigned ->
    # INTEGER is no narrowing, although a SQLite INTEGER source is read as 32 bits.
    mariadb_db.execute(
        "CREATE TABLE t (id int unsigned PRIMARY KEY, big bigint unsigned, n int)",
        "INSERT INTO t VALUES (4294967295, 1, -1)",
    )
    path = tmp_path / "target.db"
    with sqlite3.connect(path) as con:
        con.executescript(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, big INTEGER, n INTEGER);"
            "INSERT INTO t VALUES (4294967295, 1, -1);"
        )
    # Only a 64-bit unsigned range exceeds what SQLite stores.
    assert by_column(compare(mariadb_db.url, f"sqlite:///{path}"), info=False) == {
        "big": {(Category.TYPE_NARROWED, Severity.ERROR)}
    }
