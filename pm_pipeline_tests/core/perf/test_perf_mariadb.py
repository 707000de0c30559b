"""The performance monitor across engines on the real servers: MariaDB -> PostgreSQL and
PostgreSQL -> MariaDB, a target that lost its indexes reported (advice proven with HypoPG on a
PostgreSQL target, unverified on MariaDB), a correct target raising nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pm_pipeline.core.config.performance import PerformanceSettings
from pm_pipeline.core.config.timeouts import Timeouts
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import Category, Severity
from pm_pipeline.core.perf import PerfResult, run_workload
from pm_pipeline_tests.conftest import MyDatabase, PgDatabase, make_mariadb_database, make_pg_database

pytestmark = [pytest.mark.postgres, pytest.mark.mariadb]

ROWS = 50_000
MARIADB_TABLES = (
    "CREATE TABLE customers (id int PRIMARY KEY, email varchar(100) NOT NULL, name varchar(100) NOT NULL, "
    "city varchar(50) NOT NULL)",
    "INSERT INTO customers SELECT seq, concat('user', seq, '@example.com'), concat('name ', seq), "
    f"concat('city ', seq % 40) FROM seq_1_to_{ROWS}",
)
PG_TABLES = (
    "CREATE TABLE customers (id integer PRIMARY KEY, email varchar(100) NOT NULL, name varchar(100) NOT NULL, "
    "city varchar(50) NOT NULL)",
    "INSERT INTO customers SELECT i, 'user' || i || '@example.com', 'name ' || i, 'city ' || (i % 40) "
    f"FROM generate_series(1, {ROWS}) i",
)
INDEXES = (
    "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email)",
    "CREATE INDEX customers_name_idx ON customers (name)",
)
WORKLOAD = {
    "repetitions": 10,
    "warmup": 1,
    "allow_hypopg": True,
    "workload": [
        {
            "name": "login_by_email",
            "sql": "SELECT id, name FROM customers WHERE email = :email",
            "sample": {"sql": "SELECT email FROM customers WHERE id % 4999 = 0 ORDER BY id", "size": 3},
        },
        {
            "name": "by_name",
            "sql": "SELECT id FROM customers WHERE name = :name",
            "params": {"name": "name 4242"},
        },
        {"name": "by_id", "sql": "SELECT id, city FROM customers WHERE id = :id", "params": {"id": 77}},
    ],
}


@pytest.fixture(scope="module")
def mariadb_indexed() -> Iterator[MyDatabase]:
    for db in make_mariadb_database():
        db.execute(*MARIADB_TABLES, *INDEXES, "ANALYZE TABLE customers")
        yield db


@pytest.fixture(scope="module")
def mariadb_lost() -> Iterator[MyDatabase]:
    for db in make_mariadb_database():
        db.execute(*MARIADB_TABLES, "ANALYZE TABLE customers")
        yield db


@pytest.fixture(scope="module")
def pg_indexed() -> Iterator[PgDatabase]:
    for db in make_pg_database():
        db.execute(*PG_TABLES, *INDEXES, "ANALYZE")
        yield db


@pytest.fixture(scope="module")
def pg_lost() -> Iterator[PgDatabase]:
    for db in make_pg_database():
        db.execute(*PG_TABLES, "ANALYZE")
        yield db


def _run(source_url: str, target_url: str) -> PerfResult:
    settings = PerformanceSettings.model_validate(WORKLOAD)
    with connect(source_url) as src, connect(target_url) as tgt:
        return run_workload(settings, source=src, target=tgt)


def _reported(result: PerfResult) -> set[tuple[str | None, str, str | None]]:
    return {(f.query, f.table, f.column) for f in result.findings if f.category is Category.PLAN_REGRESSION}


def test_mariadb_to_postgresql_lost_indexes_are_reported_with_proven_advice(
    mariadb_indexed: MyDatabase, pg_lost: PgDatabase
) -> None:
    result = _run(mariadb_indexed.url, pg_lost.url)
    assert _reported(result) == {("login_by_email", "customers", "email"), ("by_name", "customers", "name")}
    advice = {f.query: f.rule for f in result.findings if f.category is Category.INDEX_ADVICE}
    assert advice == {"login_by_email": "proven", "by_name": "proven"}
    assert {f.query for f in result.findings} == {"login_by_email", "by_name"}


def test_postgresql_to_mariadb_lost_indexes_are_reported_with_unverified_advice(
    pg_indexed: PgDatabase, mariadb_lost: MyDatabase
) -> None:
    result = _run(pg_indexed.url, mariadb_lost.url)
    assert _reported(result) == {("login_by_email", "customers", "email"), ("by_name", "customers", "name")}
    advice = [f for f in result.findings if f.category is Category.INDEX_ADVICE]
    assert {(f.query, f.rule) for f in advice} == {
        ("login_by_email", "unverified"),
        ("by_name", "unverified"),
    }
    assert all("`customers` (`" in f.message for f in advice)  # MariaDB's own quoting
    counters = result.counters["target"]
    assert counters["session"]["handler_read_rnd_next"] > ROWS  # the scans, row by row
    assert {f.query for f in result.findings} == {"login_by_email", "by_name"}


@pytest.mark.parametrize("direction", ["mariadb_to_postgresql", "postgresql_to_mariadb"])
def test_a_correct_cross_engine_target_raises_nothing(
    direction: str, mariadb_indexed: MyDatabase, pg_indexed: PgDatabase
) -> None:
    source, target = (
        (mariadb_indexed, pg_indexed)
        if direction == "mariadb_to_postgresql"
        else (pg_indexed, mariadb_indexed)
    )
    for _ in range(2):
        result = _run(source.url, target.url)
        assert [f.message for f in result.findings] == []
    by_email = next(q for q in result.queries if q.name == "login_by_email")
    assert by_email.source_plan is not None and by_email.target_plan is not None
    assert [t.path for t in by_email.target_plan.tables] == ["index"]


def test_a_different_answer_across_engines_is_an_error(
    mariadb_indexed: MyDatabase, pg_indexed: PgDatabase
) -> None:
    pg_indexed.execute("UPDATE customers SET city = 'elsewhere' WHERE id = 77")
    try:
        result = _run(mariadb_indexed.url, pg_indexed.url)
    finally:
        pg_indexed.execute("UPDATE customers SET city = 'city ' || (77 % 40) WHERE id = 77")
    assert [(f.query, f.category, f.severity) for f in result.findings] == [
        ("by_id", Category.RESULT_MISMATCH, Severity.ERROR)
    ]


def test_after_a_run_each_session_keeps_its_own_statement_limit(
    mariadb_indexed: MyDatabase, pg_indexed: PgDatabase
) -> None:
    # The server's default came back instead of the connector's limit: MariaDB's is none at all.
    settings = PerformanceSettings.model_validate(WORKLOAD | {"repetitions": 3, "statement_timeout": "2s"})
    limits = Timeouts(statement=42.5)
    with (
        connect(mariadb_indexed.url, timeouts=limits) as src,
        connect(pg_indexed.url, timeouts=limits) as tgt,
    ):
        run_workload(settings, source=src, target=tgt)
        assert src.execute("SELECT @@SESSION.max_statement_time") == [(42.5,)]
        assert tgt.execute("SHOW statement_timeout") == [("42500ms",)]
