"""Timeouts of embedded engines and of the spec: a statement running past its limit is interrupted
(DuckDB, SQLite, MariaDB) and named, and the spec's durations are read or refused with the key."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import duckdb
import pytest

from pm_pipeline.core.config.spec import Endpoint
from pm_pipeline.core.connectors import Timeouts, connect
from pm_pipeline.core.connectors.base import NoAnswerFailure
from pm_pipeline.core.errors import SystemFailure
from pm_pipeline_tests.conftest import MyDatabase, PgDatabase

# A statement that runs for minutes unless stopped: a recursive count to ten billion.
SLOW_SQLITE = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000000) "
    "SELECT count(*) FROM n"
)
SLOW_DUCKDB = "SELECT count(*) FROM range(100000000000) a"
LIMIT = Timeouts(connect=2, statement=0.3, idle=1)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    return f"sqlite:///{path}"


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    path = tmp_path / "s.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    return f"duckdb:///{path}"


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
@pytest.mark.parametrize("how", ["execute", "stream"])
def test_a_statement_past_its_limit_is_interrupted(
    engine: str, how: str, sqlite_url: str, duckdb_url: str
) -> None:
    url, slow = (sqlite_url, SLOW_SQLITE) if engine == "sqlite" else (duckdb_url, SLOW_DUCKDB)
    with connect(url, timeouts=LIMIT) as connector:
        started = time.monotonic()
        with pytest.raises(SystemFailure, match=r"ran longer than 0\.3 s and was interrupted"):
            if how == "execute":
                connector.execute(slow)
            else:
                list(connector.stream_query(slow))
        # A limit that never fired would leave this running for minutes, not seconds.
        assert time.monotonic() - started < 60
        # The connector is still usable after the interruption.
        assert connector.execute("SELECT 1") == [(1,)]


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_no_statement_limit_lets_a_statement_finish(engine: str, sqlite_url: str, duckdb_url: str) -> None:
    url = sqlite_url if engine == "sqlite" else duckdb_url
    with connect(url, timeouts=Timeouts(statement=0)) as connector:
        assert connector.execute("SELECT count(*) FROM t") == [(0,)]


def test_mariadb_statement_limit_is_enforced_by_the_server(mariadb_db: MyDatabase) -> None:
    with connect(mariadb_db.url, timeouts=Timeouts(connect=2, statement=0.5, idle=5)) as connector:
        with pytest.raises(SystemFailure, match=r"(?i)max.*(statement|execution) time|interrupted"):
            connector.execute("SELECT SLEEP(3) FROM (SELECT 1 UNION ALL SELECT 2) t")
        table = connector.query_arrow("SELECT 1 AS one")
        assert table.column("one").to_pylist() == [1]


@pytest.mark.parametrize(
    ("given", "seconds"),
    [("500ms", 0.5), ("10s", 10.0), ("5m", 300.0), ("1h", 3600.0), (7, 7.0), (0, 0.0), ("none", 0.0)],
)
def test_spec_durations(given: object, seconds: float) -> None:
    endpoint = Endpoint.model_validate({"url": "sqlite:///x.db", "timeouts": {"idle": given}})
    assert endpoint.timeouts.limits().idle == seconds


@pytest.mark.parametrize("given", ["soon", "-1s", True, "1d"])
def test_spec_durations_refused_name_the_key(given: object) -> None:
    with pytest.raises(ValueError, match=r"timeouts\.statement"):
        Endpoint.model_validate({"url": "sqlite:///x.db", "timeouts": {"statement": given}})


def test_default_limits() -> None:
    limits = Endpoint(url="sqlite:///x.db").timeouts.limits()
    assert (limits.connect, limits.statement, limits.idle) == (10.0, 3600.0, 300.0)
    assert (limits.first_answer, limits.next_answer) == (3900.0, 300.0)


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_a_tiny_statement_limit_ends_reads_only_as_timeouts(
    engine: str, sqlite_url: str, duckdb_url: str
) -> None:
    # Batches ending right at their deadline once left an interrupt meant for them to hit the next
    # fetch (or statement), which then failed as a bare driver error instead of a timeout.
    url = sqlite_url if engine == "sqlite" else duckdb_url
    path = url.split(":///", 1)[1]
    with sqlite3.connect(path) if engine == "sqlite" else duckdb.connect(path) as conn:
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(200)])
    outcomes = {"read": 0, "timed out": 0}
    with connect(url, timeouts=Timeouts(connect=2, statement=0.00005, idle=1)) as connector:
        for _ in range(150):
            try:
                rows = sum(b.num_rows for b in connector.stream_query("SELECT id FROM t", batch_rows=1))
                assert rows == 200
                outcomes["read"] += 1
            except SystemFailure as exc:
                assert "ran longer than" in str(exc)
                outcomes["timed out"] += 1
    assert outcomes["timed out"]  # the deadlines did pass: the race was run, not avoided


def test_a_postgres_statement_ending_at_its_deadline_is_its_own_timeout(pg_db: PgDatabase) -> None:
    # Cut as it answered, a statement once returned its rows and left its connection shut: the
    # next statement, whose own limit never passed, failed as a lost connection.
    outcomes = {"answered": 0, "timed out": 0}
    for attempt in range(60):
        limits = Timeouts(connect=5, statement=0.0001 * (attempt % 6 + 1), idle=0.0001)
        with connect(pg_db.url, timeouts=limits) as connector:
            try:
                for _ in range(5):
                    assert connector.execute("SELECT 1") == [(1,)]
                outcomes["answered"] += 1
            except NoAnswerFailure:
                outcomes["timed out"] += 1
    assert outcomes["timed out"]  # the deadlines did pass: the race was run, not avoided
