"""Schema comparison on real engines: MariaDB -> PostgreSQL, SQLite -> DuckDB, with profiles pushed down."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import Category
from pm_pipeline.core.schema import SchemaComparison, compare_schemas, key_max, profile_columns

MARIADB_DDL = (
    "CREATE TABLE customers (id INT PRIMARY KEY)",
    "CREATE TABLE orders ("
    " id INT(11) NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " customer_id INT(11) NOT NULL,"
    " email VARCHAR(100) NOT NULL,"
    " amount DECIMAL(12,2) NOT NULL DEFAULT 0.00,"
    " paid TINYINT(1) NOT NULL DEFAULT 0,"
    " state ENUM('new','paid') DEFAULT 'new',"
    " created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
    " UNIQUE KEY uq_email (email),"
    " KEY ix_created (created_at),"
    " CONSTRAINT fk_customer FOREIGN KEY (customer_id) REFERENCES customers (id),"
    " CONSTRAINT amount_positive CHECK (amount >= 0))",
    "INSERT INTO customers VALUES (1), (2)",
    "INSERT INTO orders (customer_id, email, amount, paid, state) VALUES"
    " (1, 'a@x.io', 10.50, 1, 'paid'), (2, 'b@x.io', 3.00, 0, 'new'), (1, 'c@x.io', 7.25, 0, 'new')",
)


def pg_ddl(
    *, email: str = "email varchar(100) NOT NULL", amount_default: str = "DEFAULT 0.00", unique: bool = True,
    index: bool = True, check: bool = True, setval: bool = True,
) -> tuple[str, ...]:  # fmt: skip
    return (
        "CREATE TABLE customers (id integer PRIMARY KEY)",
        "CREATE TABLE orders ("
        " id serial PRIMARY KEY,"
        " customer_id integer NOT NULL REFERENCES customers (id),"
        f" {email},"
        f" amount numeric(12,2) NOT NULL {amount_default},"
        " paid boolean NOT NULL DEFAULT false,"
        " state varchar(10) DEFAULT 'new',"
        " created_at timestamp(6) NOT NULL DEFAULT now()"
        + (", CONSTRAINT uq_email UNIQUE (email)" if unique else "")
        + (", CHECK (amount >= 0)" if check else "")
        + ")",
        # MariaDB indexes every foreign key by itself; PostgreSQL needs it created (as pgloader does).
        "CREATE INDEX orders_customer ON orders (customer_id)",
        *(["CREATE INDEX orders_created ON orders (created_at)"] if index else []),
        "INSERT INTO customers VALUES (1), (2)",
        "INSERT INTO orders (id, customer_id, email, amount, paid, state) VALUES"
        " (1, 1, 'a@x.io', 10.50, true, 'paid'), (2, 2, 'b@x.io', 3.00, false, 'new'),"
        " (3, 1, 'c@x.io', 7.25, false, 'new')",
        *(["SELECT setval('orders_id_seq', 3)"] if setval else []),
    )


def run(source_url: str, target_url: str, *, mapping: TableMapping | None = None) -> SchemaComparison:
    with connect(source_url) as source, connect(target_url) as target:
        source_schema, target_schema = source.introspect("orders"), target.introspect("orders")
        target_table = mapping.target_name if mapping else "orders"
        return compare_schemas(
            table="orders",
            source=source_schema,
            target=target_schema,
            source_engine=source.engine,
            target_engine=target.engine,
            mapping=mapping,
            source_profiles=profile_columns(source, "orders", source_schema),
            target_profiles=profile_columns(target, target_table, target_schema),
            target_key_max={"id": key_max(target, target_table, "id") or 0},
        )


def categories(result: SchemaComparison) -> dict[Category, set[str | None]]:
    found: dict[Category, set[str | None]] = {}
    for finding in result.findings:
        found.setdefault(finding.category, set()).add(finding.column)
    return found


@pytest.mark.postgres
@pytest.mark.mariadb
def test_mariadb_to_postgresql_correct_migration_has_no_findings(mariadb_db: Any, pg_db: Any) -> None:
    mariadb_db.execute(*MARIADB_DDL)
    pg_db.execute(*pg_ddl())
    result = run(mariadb_db.url, pg_db.url)
    assert result.findings == (), result.findings


@pytest.mark.postgres
@pytest.mark.mariadb
def test_mariadb_to_postgresql_defects_are_each_found(mariadb_db: Any, pg_db: Any) -> None:
    mariadb_db.execute(*MARIADB_DDL)
    pg_db.execute(
        *pg_ddl(email="email varchar(50)", amount_default="", unique=False, index=False, setval=False),
        "ALTER TABLE orders DROP COLUMN state",
    )
    found = categories(run(mariadb_db.url, pg_db.url))
    assert found == {
        Category.TYPE_NARROWED: {"email"},
        Category.NULLABILITY_CHANGED: {"email"},
        Category.COLUMN_MISSING: {"state"},
        Category.DEFAULT_MISSING: {"amount"},
        Category.CONSTRAINT_MISSING: {"email"},
        Category.INDEX_MISSING: {"created_at"},
        Category.SEQUENCE_BEHIND: {"id"},
    }


@pytest.mark.postgres
@pytest.mark.mariadb
def test_mariadb_to_postgresql_renamed_column_is_suggested_then_accepted(mariadb_db: Any, pg_db: Any) -> None:
    mariadb_db.execute(*MARIADB_DDL)
    pg_db.execute(*pg_ddl(), "ALTER TABLE orders RENAME COLUMN email TO email_address")
    suggested = run(mariadb_db.url, pg_db.url)
    assert [(s.source_column, s.target_column) for s in suggested.suggestions] == [("email", "email_address")]
    assert suggested.suggestions[0].profile_similarity == 1.0
    accepted = run(
        mariadb_db.url, pg_db.url, mapping=TableMapping(source="orders", renames={"email": "email_address"})
    )
    assert accepted.findings == ()


def _sqlite_source(path: Path) -> str:
    with sqlite3.connect(path) as con:
        con.executescript(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL, "
            "amount NUMERIC(12,2) DEFAULT 0, note TEXT);"
            "CREATE INDEX ix_email ON orders (email);"
            "INSERT INTO orders (email, amount, note) VALUES ('a@x.io', 1.5, 'a fairly long note about the order'),"
            " ('b@x.io', 2, NULL), ('c@x.io', 3, 'short');"
        )
    con.close()
    return f"sqlite:///{path}"


def _duckdb_target(path: Path, *, start: int) -> str:
    con = duckdb.connect(str(path))
    con.execute(
        f"CREATE SEQUENCE orders_id START {start};"
        "CREATE TABLE orders (id BIGINT PRIMARY KEY DEFAULT nextval('orders_id'), email VARCHAR NOT NULL, "
        "amount DECIMAL(12,2) DEFAULT 0, note VARCHAR);"
        "CREATE INDEX ix_orders_email ON orders (email);"
        "INSERT INTO orders VALUES (1, 'a@x.io', 1.5, 'a fairly long note about the order'),"
        " (2, 'b@x.io', 2, NULL), (3, 'c@x.io', 3, 'short')"
    )
    con.close()
    return f"duckdb:///{path}"


def test_sqlite_to_duckdb_correct_migration_has_no_findings(tmp_path: Path) -> None:
    result = run(_sqlite_source(tmp_path / "s.db"), _duckdb_target(tmp_path / "t.duckdb", start=4))
    assert result.findings == (), result.findings


def test_sqlite_to_duckdb_sequence_not_advanced(tmp_path: Path) -> None:
    result = run(_sqlite_source(tmp_path / "s.db"), _duckdb_target(tmp_path / "t.duckdb", start=1))
    assert categories(result) == {Category.SEQUENCE_BEHIND: {"id"}}


def test_sqlite_text_into_short_column_is_checked_against_profiled_lengths(tmp_path: Path) -> None:
    source_url = _sqlite_source(tmp_path / "s.db")
    # DuckDB does not enforce VARCHAR(n), so the length check is exercised on SQLite -> SQLite.
    short = tmp_path / "short.db"
    with sqlite3.connect(short) as con:
        con.executescript(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL, "
            "amount NUMERIC(12,2) DEFAULT 0, note VARCHAR(10));"
            "CREATE INDEX ix_email ON orders (email);"
            "INSERT INTO orders (email, amount, note) VALUES ('a@x.io', 1.5, 'a fairly long note about the order'),"
            " ('b@x.io', 2, NULL), ('c@x.io', 3, 'short');"
        )
    con.close()
    narrowed = run(source_url, f"sqlite:///{short}")
    assert categories(narrowed) == {Category.TYPE_NARROWED: {"note"}}
    assert "34 characters" in narrowed.findings[0].message
