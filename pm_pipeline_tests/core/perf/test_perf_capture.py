"""`capture: {top: N}`: the source's top statements from pg_stat_statements (a private PostgreSQL
started with it) and from MariaDB's performance_schema digests (a private mariadbd with it on), their
parameters drawn from real rows, what cannot be drawn skipped with the reason, and a clear refusal
where the source keeps no statistics."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pm_pipeline.cli import main
from pm_pipeline.core.config.performance import PerformanceSettings
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.dialects import Dialect
from pm_pipeline.core.dialects.mysql import MySqlDialect
from pm_pipeline.core.dialects.postgres import PostgresDialect
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.core.perf import run_workload
from pm_pipeline.core.perf.capture import _named
from pm_pipeline_tests.conftest import MyDatabase, PgDatabase
from pm_pipeline_tests.private_postgres import PrivatePostgres, free_port, private_postgres, unavailable

ROWS = 20_000
SETTINGS = PerformanceSettings.model_validate({"capture": {"top": 10}, "repetitions": 5, "warmup": 1})
PG_TABLE = (
    "CREATE TABLE customers (id integer PRIMARY KEY, email text NOT NULL, city text NOT NULL)",
    "INSERT INTO customers SELECT i, 'user' || i || '@example.com', 'city ' || (i % 30) "
    f"FROM generate_series(1, {ROWS}) i",
)
UNIQUE_EMAIL = "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email)"
# The application's statements, with literals as an application sends them.
APPLICATION = (
    *(f"SELECT id FROM customers WHERE email = 'user{i}@example.com'" for i in range(1, 400, 7)),
    *(f"SELECT city FROM customers WHERE id = {i}" for i in range(1, 30)),
    *("SELECT id FROM customers ORDER BY id LIMIT 3" for _ in range(30)),  # LIMIT: nothing to draw from
    *("SELECT city FROM customers WHERE id = 5 FOR UPDATE" for _ in range(30)),  # locks: not read-only
    # A table gone since its statements were counted: the source no longer runs them.
    "CREATE TABLE gone (id int)",
    *("SELECT count(*) FROM gone" for _ in range(30)),
    "DROP TABLE gone",
)
SKIPPED = ("no column to draw parameter", "it locks or writes (FOR UPDATE)", "the source does not run it")


def _only_the_lookup_by_email(errors: list[Finding]) -> None:
    """The lookup by e-mail scans the target: a plan regression, and a slower run when significant."""
    assert (Category.PLAN_REGRESSION, "email") in {(f.category, f.column) for f in errors}
    assert {f.category for f in errors} <= {Category.PLAN_REGRESSION, Category.QUERY_REGRESSION}
    assert len({f.query for f in errors}) == 1


def _kinds(skipped: tuple[tuple[str, str], ...]) -> list[str]:
    """Each skip reason as the SKIPPED phrase it starts with (the reason itself when none)."""
    return sorted(next((why for why in SKIPPED if reason.startswith(why)), reason) for _, reason in skipped)


@pytest.fixture(scope="module")
def statements_pg() -> Iterator[PrivatePostgres]:
    # pg_stat_statements collects only when preloaded: a server the shared one is not.
    with private_postgres("pm-capture-", settings="-c shared_preload_libraries=pg_stat_statements") as server:
        server.sql("postgres", "CREATE DATABASE src", "CREATE DATABASE lost", "CREATE DATABASE correct")
        server.sql("src", "CREATE EXTENSION pg_stat_statements", *PG_TABLE, UNIQUE_EMAIL, "ANALYZE")
        server.sql("lost", *PG_TABLE, "ANALYZE")
        server.sql("correct", *PG_TABLE, UNIQUE_EMAIL, "ANALYZE")
        server.sql("src", "SELECT pg_stat_statements_reset()", *APPLICATION)
        yield server


def test_pg_stat_statements_top_queries_run_with_drawn_parameters(statements_pg: PrivatePostgres) -> None:
    with connect(statements_pg.url("src")) as source, connect(statements_pg.url("lost")) as target:
        result = run_workload(SETTINGS, source=source, target=target)
    by_sql = {q.name: q for q in result.queries}
    assert all(name.startswith("pgss_") for name in by_sql)
    assert len(by_sql) == 2, result.to_json()  # the lookups by e-mail and by id; LIMIT $1 skipped
    assert all(name.startswith("pgss_") for name, _ in result.skipped)
    assert _kinds(result.skipped) == sorted(SKIPPED)
    errors = [f for f in result.findings if f.severity is Severity.ERROR]
    # The lookup by e-mail lost its index on the target: reported under the captured query's name.
    _only_the_lookup_by_email(errors)
    login = by_sql[str(errors[0].query)]
    assert login.rows_fetched[0] > 0  # real rows: drawn e-mails that exist answer with their id

    with connect(statements_pg.url("src")) as source, connect(statements_pg.url("correct")) as target:
        clean = run_workload(SETTINGS, source=source, target=target)
    assert len(clean.queries) == 2, [(q.name, q.table) for q in clean.queries]
    assert [f for f in clean.findings if f.severity in (Severity.ERROR, Severity.WARNING)] == []


def test_a_source_without_statistics_is_refused_clearly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_db: PgDatabase, pg_db2: PgDatabase
) -> None:
    # The shared server: pg_stat_statements is neither preloaded nor created in the database.
    with (
        connect(pg_db.url) as source,
        connect(pg_db2.url) as target,
        pytest.raises(BadInputError, match="no pg_stat_statements"),
    ):
        run_workload(SETTINGS, source=source, target=target)
    for name in ("a.db", "b.db"):
        sqlite3.connect(tmp_path / name).close()
    spec = tmp_path / "m.yaml"
    spec.write_text(
        f"name: cap\nsource: {{url: 'sqlite:///{tmp_path}/a.db'}}\ntarget: {{url: 'sqlite:///{tmp_path}/b.db'}}\n"
        "performance: {capture: {top: 5}}\n"
    )
    code = main(["perf", "--spec", str(spec)])
    err = capsys.readouterr().err
    assert code == 2 and "keeps no statement statistics" in err and "Traceback" not in err


@pytest.mark.mariadb
def test_the_shared_mariadb_without_performance_schema_is_refused(mariadb_db: MyDatabase) -> None:
    with connect(mariadb_db.url) as source:
        if source.execute("SELECT @@performance_schema")[0][0]:
            pytest.skip("the shared MariaDB runs with performance_schema on")
        with pytest.raises(BadInputError, match="performance_schema off"):
            run_workload(SETTINGS, source=source, target=source)


@pytest.fixture(scope="module")
def digests_mariadb() -> Iterator[str]:
    """A private mariadbd with performance_schema on, holding the source: its URL."""
    server_bin, install = shutil.which("mariadbd") or "/usr/sbin/mariadbd", shutil.which("mariadb-install-db")
    if install is None or not Path(server_bin).is_file():
        unavailable("no mariadbd / mariadb-install-db on this machine")
    root = Path(tempfile.mkdtemp(prefix="pm-digests-"))
    port = free_port()
    user = ["--user=root"] if os.geteuid() == 0 else []
    import pymysql

    process = None
    try:
        try:
            subprocess.run(
                [str(install), "--no-defaults", f"--datadir={root / 'data'}", "--skip-test-db",
                 "--auth-root-authentication-method=normal", *user],
                capture_output=True, text=True, timeout=120, check=True,
            )  # fmt: skip
            process = subprocess.Popen(
                [server_bin, "--no-defaults", f"--datadir={root / 'data'}", f"--socket={root / 'sock'}",
                 f"--port={port}", "--bind-address=127.0.0.1", "--performance-schema=ON", "--skip-log-bin",
                 "--innodb-buffer-pool-size=32M", *user],
                stdout=subprocess.DEVNULL, stderr=(root / "log").open("w"),
            )  # fmt: skip
            deadline = time.monotonic() + 30
            while True:
                try:
                    admin = pymysql.connect(
                        host="127.0.0.1", port=port, user="root", password="", autocommit=True
                    )
                    break
                except pymysql.err.OperationalError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                    time.sleep(0.3)
        except (subprocess.SubprocessError, OSError, pymysql.err.OperationalError) as exc:
            unavailable(f"cannot start a private MariaDB with performance_schema: {exc}")
        with admin.cursor() as cur:
            cur.execute("CREATE DATABASE src")
            cur.execute("USE src")
            cur.execute(
                "CREATE TABLE customers (id int PRIMARY KEY, email varchar(60) NOT NULL UNIQUE, "
                "city varchar(20) NOT NULL)"
            )
            cur.execute(f"SET SESSION max_recursive_iterations = {ROWS + 1}")
            cur.execute(
                "INSERT INTO customers WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                f"WHERE i < {ROWS}) SELECT i, CONCAT('user', i, '@example.com'), CONCAT('city ', i % 30) FROM n"
            )
            cur.execute("ANALYZE TABLE customers")
            cur.execute("TRUNCATE performance_schema.events_statements_summary_by_digest")
            for statement in APPLICATION:
                cur.execute(statement)
                cur.fetchall()
        admin.close()
        yield f"mysql://root@127.0.0.1:{port}/src"
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.postgres
def test_mariadb_digests_feed_the_workload_against_a_postgresql_target(
    digests_mariadb: str, pg_db: PgDatabase
) -> None:
    pg_db.execute(*PG_TABLE, "ANALYZE")  # the target lost the unique e-mail index
    with connect(digests_mariadb) as source, connect(pg_db.url) as target:
        result = run_workload(SETTINGS, source=source, target=target)
    assert len(result.queries) == 2, result.to_json()
    assert all(q.name.startswith("digest_") for q in result.queries)
    assert _kinds(result.skipped) == sorted(SKIPPED)
    errors = [f for f in result.findings if f.severity is Severity.ERROR]
    _only_the_lookup_by_email(errors)


@pytest.mark.parametrize(
    ("text", "dialect", "expected"),
    [
        # pg_stat_statements: numbered placeholders, a qualified column, the operator either side
        ("SELECT id FROM t WHERE t.email = $1 AND $2 < age", PostgresDialect,
         ("SELECT id FROM t WHERE t.email = :p1 AND :p2 < age", {"p1": "email", "p2": "age"})),
        # a digest: backticked identifiers, '?' numbered in order
        ("SELECT `id` FROM `t` WHERE `a` = ? AND `b` LIKE ?", MySqlDialect,
         ("SELECT `id` FROM `t` WHERE `a` = :p1 AND `b` LIKE :p2", {"p1": "a", "p2": "b"})),
        # JSON's '?' operator on PostgreSQL is no placeholder
        ("SELECT id FROM t WHERE doc ? 'k' AND id = $1", PostgresDialect,
         ("SELECT id FROM t WHERE doc ? 'k' AND id = :p1", {"p1": "id"})),
        ("SELECT id FROM t LIMIT $1", PostgresDialect, "no column to draw parameter $1 from"),
        ("SELECT id FROM t WHERE id IN (...)", MySqlDialect, "the digest shortened the statement ('...')"),
    ],
)  # fmt: skip
def test_normalised_statements_get_named_parameters_or_a_reason(
    text: str, dialect: type[Dialect], expected: object
) -> None:
    statistics = dialect.statement_statistics
    assert statistics is not None
    assert _named(text, placeholder=re.compile(statistics.placeholder)) == expected
