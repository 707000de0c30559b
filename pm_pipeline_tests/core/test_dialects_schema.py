"""The schema and performance sections of each SQL dialect, checked on the engine itself where that
is cheap: byte lengths, declared widths and defaults, type spellings, EXPLAIN and its plan reader,
statement timeouts and server counters."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pm_pipeline.core.config.timeouts import Timeouts
from pm_pipeline.core.connectors import Connector, connect
from pm_pipeline.core.connectors.schema import TypeFamily as F
from pm_pipeline.core.dialects import ENGINES, dialect_for
from pm_pipeline.core.perf import engines
from pm_pipeline.core.perf.params import Bound
from pm_pipeline.core.perf.plans import INDEX, plan_reader
from pm_pipeline.core.schema.type_map import SPELLINGS, effective_family
from pm_pipeline.core.security.source_identity import source_identity
from pm_pipeline_tests.conftest import MyDatabase, PgDatabase, make_mariadb_database, make_pg_database
from pm_pipeline_tests.support.embedded import Setup, in_process

SERVERS = ("postgresql", "mysql")

# Per engine: a binary column type and a 3-byte literal of it, a double type to read a float back
# through, and the declared types whose widths the dialect states.
NATIVE: dict[str, dict[str, str]] = {
    "postgresql": {"blob": "bytea", "bytes": "'\\x000102'::bytea", "double": "double precision"},
    "mysql": {"blob": "VARBINARY(8)", "bytes": "X'000102'", "double": "DOUBLE"},
    "duckdb": {"blob": "BLOB", "bytes": "'\\x00\\x01\\x02'::BLOB", "double": "DOUBLE"},
    "sqlite": {"blob": "BLOB", "bytes": "X'000102'", "double": "REAL"},
}


@contextlib.contextmanager
def _server(name: str) -> Iterator[PgDatabase | MyDatabase]:
    """A database created on the PostgreSQL or MariaDB server, dropped afterwards."""
    if name == "postgresql":
        yield from make_pg_database()
    else:
        yield from make_mariadb_database()


@pytest.fixture(params=("postgresql", "mysql", "duckdb", "sqlite"))
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Setup, str]]:
    """(engine name, a function running setup statements natively, the URL a connector reads)."""
    name = str(request.param)
    if name in SERVERS:
        with _server(name) as database:
            yield name, database.execute, database.url
    elif name == "duckdb":
        yield name, in_process(duckdb, tmp_path / "d.duckdb"), f"duckdb:///{tmp_path / 'd.duckdb'}"
    else:
        yield name, in_process(sqlite3, tmp_path / "s.db"), f"sqlite:///{tmp_path / 's.db'}"


def _one(connector: Connector, sql: str) -> tuple[Any, ...]:
    return connector.execute(sql)[0]


def test_lengths_count_characters_of_text_and_bytes_of_binary(engine: tuple[str, Setup, str]) -> None:
    # 'héllo' is 5 characters and 6 UTF-8 bytes: a byte count where characters are meant (MariaDB
    # LENGTH) reads a multi-byte text as too long for its target.
    name, setup, url = engine
    native = NATIVE[name]
    setup(
        f"CREATE TABLE t (s VARCHAR(20), b {native['blob']})",
        f"INSERT INTO t VALUES ('héllo', {native['bytes']})",
    )
    with connect(url) as connector:
        dialect = connector.dialect
        text = dialect.char_length(dialect.text_cast(connector.quote("s")))
        assert _one(connector, f"SELECT {text}, {dialect.byte_length(connector.quote('b'))} FROM t") == (5, 3)


def test_declared_float_widths_are_the_engines(engine: tuple[str, Setup, str]) -> None:
    # MariaDB's REAL is a double but its FLOAT a single; PostgreSQL's FLOAT is a double.
    name, setup, url = engine
    setup("CREATE TABLE f (x FLOAT, r REAL)", "INSERT INTO f VALUES (0.1, 0.1)")
    double = NATIVE[name]["double"]
    with connect(url) as connector:
        x, r = _one(connector, f"SELECT CAST(x AS {double}), CAST(r AS {double}) FROM f")
    dialect = dialect_for(name)
    assert (53 if x == 0.1 else 24, 53 if r == 0.1 else 24) == (dialect.unsized_float_bits, dialect.real_bits)


def test_default_fractional_digits_are_the_engines(engine: tuple[str, Setup, str]) -> None:
    name, setup, url = engine
    temporal = "DATETIME" if name == "mysql" else "TIMESTAMP"
    setup(f"CREATE TABLE d (v {temporal})", "INSERT INTO d VALUES ('2024-01-02 03:04:05.123456')")
    with connect(url) as connector:
        (value,) = _one(connector, "SELECT v FROM d")
    digits = dialect_for(name).default_fractional_digits
    if digits is None:  # kept as written, any precision
        assert str(value).endswith(".123456")
    else:
        assert isinstance(value, dt.datetime)
        assert value.microsecond == 123456 // 10 ** (6 - digits) * 10 ** (6 - digits)


def test_mariadb_year_holds_the_range_its_dialect_states(mariadb_db: Any) -> None:
    year_range = dialect_for("mysql").year_range
    assert year_range is not None
    low, high = year_range
    mariadb_db.execute("CREATE TABLE y (v YEAR)", f"INSERT INTO y VALUES ({low}), ({high})")
    with pytest.raises(Exception, match="Out of range"):
        mariadb_db.execute(f"INSERT INTO y VALUES ({high + 1})")
    assert sorted(int(str(v)) for (v,) in mariadb_db.query("SELECT v FROM y")) == [low, high]


def test_sqlite_stores_64_bit_integers_whatever_the_declared_type(tmp_path: Path) -> None:
    bits = dialect_for("sqlite").default_integer_bits
    assert bits == 64
    in_process(sqlite3, tmp_path / "s.db")("CREATE TABLE i (v WHOLE)", f"INSERT INTO i VALUES ({2**63 - 1})")
    with connect(f"sqlite:///{tmp_path / 's.db'}") as connector:
        assert _one(connector, "SELECT v FROM i") == (2**63 - 1,)


def test_mariadb_spellings_read_booleans_and_instants(mariadb_db: Any) -> None:
    mariadb_db.execute("CREATE TABLE s (flag BOOLEAN, bit1 BIT(1), stamp TIMESTAMP NULL, n TINYINT(2))")
    with connect(mariadb_db.url) as connector:
        columns = {c.name: c for c in connector.introspect("s").columns}
    read = {name: effective_family(c.data_type, c.family, "mysql") for name, c in columns.items()}
    assert read["flag"] == (F.BOOLEAN, "mysql_tinyint1_is_boolean")
    assert read["bit1"] == (F.BOOLEAN, "mysql_bit1_is_boolean")
    assert read["stamp"] == (F.TIMESTAMPTZ, "mysql_timestamp_is_instant")
    assert read["n"][1] is None
    assert {s.name: s.engines for s in SPELLINGS} == dict.fromkeys(
        ("mysql_tinyint1_is_boolean", "mysql_bit1_is_boolean", "mysql_timestamp_is_instant"),
        frozenset({"mysql"}),
    )


def test_explain_reads_back_as_a_plan_naming_the_index(engine: tuple[str, Setup, str]) -> None:
    name, setup, url = engine
    rows = ", ".join(f"({i}, 'user{i}@example.com')" for i in range(200))
    setup(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, email VARCHAR(60))",
        "CREATE INDEX people_email ON people (email)",
        f"INSERT INTO people VALUES {rows}",
    )
    if name == "postgresql":  # enough rows that the planner prefers the index
        setup(
            "INSERT INTO people SELECT g, 'user' || g || '@example.com' FROM generate_series(200, 20000) g",
            "ANALYZE people",
        )
    with connect(url) as connector:
        placeholder = connector.placeholder
        plan = engines.explain(
            connector, Bound(f"SELECT id FROM people WHERE email = {placeholder}", ("user7@x",))
        )
    assert plan is not None and plan.engine == name
    access = plan.access("people")
    assert access is not None
    if connector.dialect.reads_tables_by_index:
        assert (access.path, access.index) == (INDEX, "people_email")


def test_files_have_no_plan_and_every_server_dialect_one() -> None:
    readers = {engine: plan_reader(dialect_for(engine)) is not None for engine in ENGINES}
    assert readers == {"postgresql": True, "mysql": True, "duckdb": True, "sqlite": True, "files": False}


# The connector's own limit, as each server shows it. The server's default (no limit) is not what
# comes back: a performance run once left the MariaDB session without any statement limit.
OWN_STATEMENT_LIMIT: dict[str, object] = {"postgresql": "42500ms", "mysql": 42.5}


@pytest.mark.parametrize("name", SERVERS)
def test_statement_timeout_is_set_then_the_connectors_own_limit_comes_back(name: str) -> None:
    show = "SHOW statement_timeout" if name == "postgresql" else "SELECT @@SESSION.max_statement_time"
    limits = Timeouts(statement=42.5)
    with _server(name) as database, connect(database.url, timeouts=limits) as connector:
        before = _one(connector, show)[0]
        with engines.statement_timeout(connector, dt.timedelta(milliseconds=1500)):
            during = _one(connector, show)[0]
        after = _one(connector, show)[0]
    assert str(during) in ("1500ms", "1.5", "1.500000")
    assert before == after == OWN_STATEMENT_LIMIT[name]


def test_postgresql_names_resolve_in_the_session_schema_again_after_a_statement_timeout(
    pg_db: PgDatabase,
) -> None:
    with connect(pg_db.url + "?schema=sales") as connector:
        before = _one(connector, "SHOW search_path")[0]
        with engines.statement_timeout(connector, dt.timedelta(milliseconds=1500)):
            during = _one(connector, "SHOW search_path")[0]
        after = _one(connector, "SHOW search_path")[0]
    assert during == "sales, public"
    assert after == before != during


def test_mysql_servers_take_their_own_statement_timeout() -> None:
    mysql = dialect_for("mysql")
    assert mysql.statement_timeout(1500, schema=None, server_version="MySQL 8.0.36") == (
        (
            "SET @pm_pipeline_max_execution_time = @@SESSION.max_execution_time",
            "SET SESSION max_execution_time = 1500",
        ),
        "SET SESSION max_execution_time = @pm_pipeline_max_execution_time",
    )
    assert dialect_for("duckdb").statement_timeout(1500, schema=None, server_version="DuckDB 1.1") is None


@pytest.mark.parametrize("name", SERVERS)
def test_counters_are_read_per_table(name: str) -> None:
    # PostgreSQL folds the unquoted name to lower case; the counters find it under either spelling.
    with _server(name) as database:
        database.execute("CREATE TABLE Orders (id INTEGER PRIMARY KEY)", "INSERT INTO Orders VALUES (1), (2)")
        with connect(database.url) as connector:
            found = engines.counters(connector, ["Orders"])
    table = "orders" if name == "postgresql" else "Orders"
    assert set(found[table]) == set(dialect_for(name).table_counter_keys)
    assert ("session" in found) == (name == "mysql")


# Each value stands for a branch the checks take on it: which engine proves index advice, builds
# indexes without blocking writes, reaches a database named after its user.
CAPABILITIES: dict[str, dict[str, object]] = {
    "default_port": {"postgresql": 5432, "mysql": 3306, "duckdb": None, "sqlite": None, "files": None},
    "database_defaults_to_user": {"postgresql": True},
    "reads_tables_by_index": {"postgresql": True, "mysql": True, "sqlite": True},
    "takes_hypothetical_indexes": {"postgresql": True},
    "builds_indexes_concurrently": {"postgresql": True},
    "instants_read_as_utc_wall_time": {"mysql": True},
    "default_fractional_digits": {"postgresql": 6, "mysql": 0, "duckdb": 6, "sqlite": None, "files": None},
    "unsized_float_bits": {"postgresql": 53, "mysql": 24, "duckdb": 24, "sqlite": 53, "files": 53},
}


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_capabilities_per_engine(capability: str) -> None:
    expected = CAPABILITIES[capability]
    default = False if all(isinstance(v, bool) for v in expected.values()) else None
    found = {engine: getattr(dialect_for(engine), capability) for engine in ENGINES}
    assert found == {engine: expected.get(engine, default) for engine in ENGINES}


def test_hypothetical_index_statements_are_postgres_only() -> None:
    postgres = dialect_for("postgresql")
    assert postgres.hypothetical_index_schema_query() == (
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'hypopg'"
    )
    assert postgres.hypothetical_index_available_query() == (
        "SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'"
    )
    assert postgres.install_hypothetical_indexes() == "CREATE EXTENSION IF NOT EXISTS hypopg"
    assert postgres.uninstall_hypothetical_indexes() == "DROP EXTENSION IF EXISTS hypopg"
    assert postgres.create_hypothetical_index("ext") == 'SELECT indexname FROM "ext".hypopg_create_index(%s)'
    assert postgres.reset_hypothetical_indexes("ext") == 'SELECT "ext".hypopg_reset()'
    assert postgres.advisory_lock(shared=True) == "SELECT pg_advisory_lock_shared(%s)"
    assert postgres.advisory_unlock(shared=True) == "SELECT pg_advisory_unlock_shared(%s)"
    assert postgres.advisory_unlock(shared=False) == "SELECT pg_advisory_unlock(%s)"
    assert postgres.try_advisory_lock() == "SELECT pg_try_advisory_lock(%s)"
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("hypothetical_index_schema_query", (), {}),
        ("hypothetical_index_available_query", (), {}),
        ("install_hypothetical_indexes", (), {}),
        ("uninstall_hypothetical_indexes", (), {}),
        ("create_hypothetical_index", ("ext",), {}),
        ("reset_hypothetical_indexes", ("ext",), {}),
        ("advisory_lock", (), {"shared": True}),
        ("advisory_unlock", (), {"shared": False}),
        ("try_advisory_lock", (), {}),
    ]
    for engine in ("mysql", "sqlite", "duckdb", "files"):
        for method, args, kwargs in calls:
            with pytest.raises(NotImplementedError):
                getattr(dialect_for(engine), method)(*args, **kwargs)


def test_statement_statistics_say_where_each_engine_keeps_them() -> None:
    postgres = dialect_for("postgresql").statement_statistics
    mysql = dialect_for("mysql").statement_statistics
    assert postgres is not None and mysql is not None
    assert postgres.enabled_query == "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
    assert postgres.top_query.startswith("SELECT queryid, query FROM pg_stat_statements WHERE dbid = ")
    assert postgres.top_query.endswith(
        " AND query ~* '^\\s*select\\s' ORDER BY total_exec_time DESC, queryid LIMIT %s"
    )
    assert mysql.enabled_query == "SELECT @@performance_schema"
    assert mysql.top_query == (
        "SELECT DIGEST, DIGEST_TEXT FROM performance_schema.events_statements_summary_by_digest "
        "WHERE SCHEMA_NAME = DATABASE() AND DIGEST_TEXT LIKE 'SELECT %%' "
        "ORDER BY SUM_TIMER_WAIT DESC, DIGEST LIMIT %s"
    )
    # PostgreSQL numbers its parameters ('?' is an operator there); a digest marks them '?'.
    assert re.findall(postgres.placeholder, "a = $1 AND doc ? 'k' AND b < $12") == ["$1", "$12"]
    assert re.findall(mysql.placeholder, "a = ? AND b < ?") == ["?", "?"]
    assert {engine: dialect_for(engine).statement_statistics is None for engine in ENGINES} == {
        "postgresql": False, "mysql": False, "duckdb": True, "sqlite": True, "files": True,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("url", "identity"),
    [
        # the default port comes from the dialect: written or not, the same source
        ("postgres://u@127.0.0.1/db", "postgresql://localhost:5432/db"),
        ("mariadb://root@localhost:3306/shop", "mysql://localhost:3306/shop"),
        # libpq reaches the user's database when the URL names none
        ("postgresql://alice@db.example", "postgresql://db.example:5432/alice"),
    ],
)
def test_source_identity_uses_the_dialects_ports(url: str, identity: str) -> None:
    assert source_identity(url) == identity
