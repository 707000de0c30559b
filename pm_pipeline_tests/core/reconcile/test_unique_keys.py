"""Sides whose database guarantees one row per key skip the duplicate search; the others never do."""

from __future__ import annotations

from pathlib import Path

import pytest

from pm_pipeline.core.config.spec import ColumnRule, TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import Category
from pm_pipeline.core.reconcile import ReconcileOptions, reconcile_table
from pm_pipeline.core.reconcile.planning import plan_table
from pm_pipeline_tests.conftest import MyDatabase, PgDatabase

TABLES = [
    "CREATE TABLE pk_int (id INTEGER PRIMARY KEY, v VARCHAR(10))",
    "CREATE TABLE pk_text (code VARCHAR(10) PRIMARY KEY, v VARCHAR(10))",
    "CREATE TABLE pk_pair (a INTEGER NOT NULL, b INTEGER NOT NULL, v VARCHAR(10), PRIMARY KEY (a, b))",
    "CREATE TABLE uq_nullable (id INTEGER UNIQUE, v VARCHAR(10))",
    "CREATE TABLE uq_not_null (id INTEGER NOT NULL UNIQUE, v VARCHAR(10))",
    "CREATE TABLE plain (id INTEGER, v VARCHAR(10))",
]

CASES = [
    ("pk_int", ["id"], {}, True),
    ("pk_text", ["code"], {}, False),  # text keys may meet in canonical form (trimmed, folded)
    ("pk_pair", ["a", "b"], {}, True),
    ("pk_pair", ["a"], {}, False),  # part of a primary key repeats
    ("pk_pair", ["a", "b", "v"], {}, True),  # a superset of a unique key is unique
    ("uq_nullable", ["id"], {}, False),  # a UNIQUE column may hold NULL many times
    ("uq_not_null", ["id"], {}, True),
    ("plain", ["id"], {}, False),
    ("pk_int", ["id"], {"id": ColumnRule(value_map={"1": 2})}, False),  # a value map merges keys
]


def _declared(url: str, table: str, key: list[str], rules: dict[str, ColumnRule]) -> bool:
    with connect(url) as connector:
        schema = connector.introspect(table)
    plan = plan_table(
        mapping=TableMapping(source=table, key=key, columns=rules),
        source=schema,
        target=schema,
        source_zone="UTC",
        target_zone="UTC",
    )
    assert plan.key_declared_unique(schema, "target") == plan.key_declared_unique(schema, "source")
    return plan.key_declared_unique(schema, "source")


def _duckdb_url(tmp_path: Path, *inserts: str) -> str:
    import duckdb

    path = tmp_path / "keys.duckdb"
    with duckdb.connect(str(path)) as connection:
        for statement in (*TABLES, *inserts):
            connection.execute(statement)
    return f"duckdb:///{path}"


@pytest.mark.parametrize(("table", "key", "rules", "expected"), CASES)
def test_declared_unique_keys_on_duckdb(
    tmp_path: Path, table: str, key: list[str], rules: dict[str, ColumnRule], expected: bool
) -> None:
    assert _declared(_duckdb_url(tmp_path), table, key, rules) is expected


@pytest.mark.postgres
def test_declared_unique_keys_on_postgres(pg_db: PgDatabase) -> None:
    pg_db.execute(*TABLES)
    assert [_declared(pg_db.url, *case[:3]) for case in CASES] == [case[3] for case in CASES]


@pytest.mark.mariadb
def test_declared_unique_keys_on_mariadb(mariadb_db: MyDatabase) -> None:
    mariadb_db.execute(*TABLES)
    assert [_declared(mariadb_db.url, *case[:3]) for case in CASES] == [case[3] for case in CASES]


@pytest.mark.postgres
def test_null_keys_under_a_unique_constraint_are_still_duplicates(pg_db: PgDatabase, tmp_path: Path) -> None:
    # UNIQUE lets NULL repeat: two rows without an id are one key seen twice, as without the constraint.
    pg_db.execute(
        TABLES[3],
        "INSERT INTO uq_nullable VALUES (1, 'a'), (NULL, 'b'), (NULL, 'c'), (2, 'd')",
    )
    url = _duckdb_url(tmp_path, "INSERT INTO uq_nullable VALUES (1, 'a'), (2, 'd')")
    with connect(pg_db.url) as source, connect(url) as target:
        result = reconcile_table(
            source=source, target=target, mapping=TableMapping(source="uq_nullable", key=["id"])
        )
    assert result.duplicate_keys_source == 1
    assert [f.category for f in result.findings if f.category is Category.DUPLICATE_KEY] == [
        Category.DUPLICATE_KEY
    ]


@pytest.mark.postgres
def test_primary_keys_give_the_same_findings_as_plain_columns(pg_db: PgDatabase, tmp_path: Path) -> None:
    rows = ", ".join(f"({i}, 'v{i}')" for i in range(1, 200))
    edited = ", ".join(f"({i}, 'v{i if i % 17 else -i}')" for i in range(3, 205))
    pg_db.execute(
        TABLES[0], TABLES[5], f"INSERT INTO pk_int VALUES {rows}", f"INSERT INTO plain VALUES {rows}"
    )
    url = _duckdb_url(tmp_path, f"INSERT INTO pk_int VALUES {edited}", f"INSERT INTO plain VALUES {edited}")
    with connect(pg_db.url) as source, connect(url) as target:
        declared = reconcile_table(
            source=source, target=target, mapping=TableMapping(source="pk_int", key=["id"])
        )
        plain = reconcile_table(
            source=source, target=target, mapping=TableMapping(source="plain", key=["id"])
        )
    assert (declared.missing_rows, declared.extra_rows, declared.changed_rows) == (2, 5, 11)
    assert (plain.missing_rows, plain.extra_rows, plain.changed_rows) == (2, 5, 11)
    assert sorted(str(f.key) for f in declared.findings) == sorted(str(f.key) for f in plain.findings)


@pytest.mark.postgres
def test_bucket_checksums_refuse_a_unique_key_that_may_repeat_null(
    pg_db: PgDatabase, pg_db2: PgDatabase
) -> None:
    # Two identical rows without an id would cancel out of a bucket's XOR: bucket must not be used.
    rows = ", ".join(f"({i}, 'v{i}')" for i in range(1, 50))
    pg_db.execute(TABLES[3], f"INSERT INTO uq_nullable VALUES {rows}, (NULL, 'x'), (NULL, 'x')")
    pg_db2.execute(TABLES[3], f"INSERT INTO uq_nullable VALUES {rows}")
    with connect(pg_db.url) as source, connect(pg_db2.url) as target:
        result = reconcile_table(
            source=source,
            target=target,
            mapping=TableMapping(source="uq_nullable", key=["id"]),
            options=ReconcileOptions(strategy="bucket"),
        )
    assert result.strategy == "pushdown" and "not unique" in (result.strategy_note or "")
    assert result.duplicate_keys_source == 1
