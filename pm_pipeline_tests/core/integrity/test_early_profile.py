"""The expectations' source profile started ahead of the reconciliation (EarlyStatement) draws the
very suite the profile draws in its turn, on PostgreSQL and MariaDB; its answer is taken once, by
the caller asking for its SQL, and any other call, or a failed early run, runs on the connector's
own connection; embedded and paced sources wait their turn."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core.config.protection import ReadLimits
from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.integrity.early import EarlyStatement
from pm_pipeline.core.integrity.suite import generate_and_count, start_profile
from pm_pipeline.core.reconcile.planning import TablePlan, plan_table
from pm_pipeline.core.run import run_check, spec_for_urls
from pm_pipeline_tests.conftest import PgDatabase

# code unique; dup: one repeated value; tier: three values (a set); amount: a decimal range; note:
# NULL on every third row.
POSTGRES = (
    "CREATE TABLE t (id int PRIMARY KEY, code text NOT NULL, dup int NOT NULL, tier text NOT NULL, "
    "amount numeric(8,2) NOT NULL, note text)",
    "INSERT INTO t SELECT g, 'c' || g, least(g, 40), (ARRAY['gold', 'silver', 'bronze'])[1 + g % 3], "
    "g * 1.25, CASE WHEN g % 3 = 0 THEN NULL ELSE 'n' || g END FROM generate_series(1, 60) AS s(g)",
)
MARIADB = (
    "CREATE TABLE t (id int PRIMARY KEY, code varchar(8) NOT NULL, dup int NOT NULL, "
    "tier varchar(8) NOT NULL, amount decimal(8,2) NOT NULL, note varchar(8))",
    "INSERT INTO t SELECT seq, CONCAT('c', seq), LEAST(seq, 40), ELT(1 + seq % 3, 'gold', 'silver', "
    "'bronze'), seq * 1.25, IF(seq % 3 = 0, NULL, CONCAT('n', seq)) FROM seq_1_to_60",
)


def _plan(source: Connector, target: Connector) -> tuple[TablePlan, Any]:
    schema = source.introspect("t")
    plan = plan_table(
        mapping=TableMapping(source="t"),
        source=schema,
        target=target.introspect("t"),
        source_zone="UTC",
        target_zone="UTC",
    )
    return plan, schema


def _wait(early: EarlyStatement) -> None:
    deadline = time.monotonic() + 30
    while not early.finished():
        assert time.monotonic() < deadline, "the early statement never ended"
        time.sleep(0.01)


@pytest.mark.parametrize(
    "engine",
    [
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_the_early_profile_draws_the_same_suite_and_counts(
    engine: str, request: pytest.FixtureRequest
) -> None:
    database = request.getfixturevalue("pg_db" if engine == "postgres" else "mariadb_db")
    database.execute(*(POSTGRES if engine == "postgres" else MARIADB))
    with connect(database.url) as source, connect(database.url) as target:
        plan, schema = _plan(source, target)
        options: dict[str, Any] = {"plan": plan, "value_set_max": 20, "source_schema": schema}
        in_turn = generate_and_count(source, target, count_target=True, target_schema=schema, **options)
        early = start_profile(source, target, plan=plan, source_schema=schema)
        assert early is not None
        with early:
            ahead = generate_and_count(
                source, target, count_target=True, target_schema=schema, early=early, **options
            )
        assert early.handed_over
    assert ahead == in_turn
    kinds = {(e.column, e.kind) for e in ahead[0].expectations}
    assert {("code", "unique"), ("tier", "in_set"), ("amount", "between")} <= kinds
    assert ("dup", "unique") not in kinds and ("note", "not_null") not in kinds


@pytest.mark.postgres
def test_the_early_answer_is_taken_once_by_its_own_sql(pg_db: PgDatabase) -> None:
    pg_db.execute("CREATE TABLE t (id int)", "INSERT INTO t VALUES (1), (2)")
    count = "SELECT count(*) FROM t"
    with connect(pg_db.url) as connector, EarlyStatement(connector, count) as early:
        _wait(early)
        pg_db.execute("INSERT INTO t VALUES (3)")
        assert early.execute("SELECT count(*) + 0 FROM t") == [(3,)]  # other SQL: run now
        assert not early.handed_over
        assert early.execute(count) == [(2,)]  # the answer computed before the insert
        assert early.handed_over
        assert early.execute(count) == [(3,)]  # taken once: then run now


@pytest.mark.postgres
def test_a_failed_early_run_is_run_again_on_the_own_connection(pg_db: PgDatabase) -> None:
    count = "SELECT count(*) FROM late"
    with connect(pg_db.url) as connector, EarlyStatement(connector, count) as early:
        _wait(early)  # failed: the table is not there yet
        pg_db.execute("CREATE TABLE late (id int)", "INSERT INTO late VALUES (1)")
        assert early.execute(count) == [(1,)]
        assert not early.handed_over


@pytest.mark.postgres
def test_a_failure_of_the_run_again_is_the_one_raised(pg_db: PgDatabase) -> None:
    count = "SELECT count(*) FROM never_created"
    with (
        connect(pg_db.url) as connector,
        EarlyStatement(connector, count) as early,
        pytest.raises(Exception, match="never_created"),
    ):
        early.execute(count)


@pytest.mark.postgres
def test_embedded_and_paced_sources_wait_their_turn(pg_db: PgDatabase, tmp_path: Path) -> None:
    pg_db.execute(*POSTGRES)
    sqlite3.connect(tmp_path / "source.db").close()
    with connect(f"sqlite:///{tmp_path / 'source.db'}") as embedded:
        assert not EarlyStatement.may_start(embedded)
    with connect(pg_db.url) as source, connect(pg_db.url) as target:
        assert EarlyStatement.may_start(source)
        plan, schema = _plan(source, target)
        source.protect_as_source(ReadLimits(rows_per_second=1000), release=contextlib.ExitStack())
        assert start_profile(source, target, plan=plan, source_schema=schema) is None
        source.protect_as_source(ReadLimits(), release=contextlib.ExitStack())
        started = start_profile(source, target, plan=plan, source_schema=schema)
        assert started is not None
        started.close()


@pytest.mark.parametrize(
    ("engine", "sleep", "running"),
    [
        pytest.param(
            "postgres",
            "SELECT pg_sleep(600)",
            "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)' AND state = 'active'",
            marks=pytest.mark.postgres,
        ),
        pytest.param(
            "mariadb",
            "SELECT SLEEP(600)",
            "SELECT COUNT(*) FROM information_schema.processlist WHERE info = 'SELECT SLEEP(600)'",
            marks=pytest.mark.mariadb,
        ),
    ],
)
# A check that fails or is interrupted during the reconciliation closes its early profile before
# taking it: the scan must stop on the server, and the check must not wait for it.
def test_closed_before_its_answer_is_taken_the_statement_is_cancelled(
    engine: str, sleep: str, running: str, request: pytest.FixtureRequest
) -> None:
    database = request.getfixturevalue("pg_db" if engine == "postgres" else "mariadb_db")
    with connect(database.url) as connector:
        early = EarlyStatement(connector, sleep)
        _until(lambda: connector.execute(running) == [(1,)], "the early statement never started")
        early.close()  # returns at once (a wait for the 600 s statement would hit the test timeout)
        assert early.finished()
        _until(lambda: connector.execute(running) == [(0,)], "the early statement was not cancelled")


@pytest.mark.postgres
# A check that fails at once closes its early profile while that is still connecting: the statement
# must then never start (it would run on the server to its end, cancelled by no one).
def test_closed_while_connecting_the_statement_never_starts(pg_db: PgDatabase) -> None:
    running = "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)'"
    with connect(pg_db.url) as connector:
        EarlyStatement(connector, "SELECT pg_sleep(600)").close()
        time.sleep(2)  # time enough to connect and start, had it not been closed
        _until(lambda: connector.execute(running) == [(0,)], "the closed early statement ran")


@pytest.mark.postgres
def test_a_check_hands_the_early_profile_to_the_expectations(
    pg_db: PgDatabase, pg_db2: PgDatabase, started_profiles: list[Any]
) -> None:
    for database in (pg_db, pg_db2):
        database.execute(*POSTGRES)
    result = run_check(spec_for_urls(source_url=pg_db.url, target_url=pg_db2.url))
    assert result.passed, [f.message for f in result.findings]
    assert len(started_profiles) == 1 and isinstance(started_profiles[0], EarlyStatement)
    assert started_profiles[0].handed_over


def _until(condition: Callable[[], bool], failure: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.05)
