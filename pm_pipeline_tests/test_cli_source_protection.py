"""A check against a protected source: it gives up on a production lock within timeouts.lock
(exit 3, naming the lock), and with replica_url the primary sees no row read at all."""

from __future__ import annotations

import re
import time
from pathlib import Path

import psycopg
import pytest

from pm_pipeline.core.config.protection import ReadLimits
from pm_pipeline.core.connectors.limits import reader_slot
from pm_pipeline.core.security.tenants import source_tag
from pm_pipeline_tests.conftest import PG_HOST, PG_PORT, PgDatabase, make_pg_database
from pm_pipeline_tests.test_bad_input import (
    EXIT_OK,
    EXIT_SYSTEM,
    PREFIX,
    SUFFIX,
    _outputs,
    _run,
    _sqlite,
    assert_clean,
)

ITEMS = (
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(20))",
    "INSERT INTO items SELECT k, 'n' || k FROM generate_series(1, 500) k",
)


def _spec(tmp_path: Path, source: str, target: str, *lines: str) -> Path:
    path = tmp_path / "spec.yaml"
    body = [f"source:\n  url: {source}", *(f"  {line}" for line in lines), f"target:\n  url: {target}"]
    path.write_text("\n".join(body) + "\ntables:\n  - source: items\n")
    return path


def test_a_check_behind_a_production_lock_ends_within_the_lock_timeout(
    pg_db: PgDatabase, pg_db2: PgDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for database in (pg_db, pg_db2):
        database.execute(*ITEMS)
    # statement: 60s only guards the test: without lock_timeout the check would end on it instead.
    spec = _spec(tmp_path, pg_db.url, pg_db2.url, "timeouts: {lock: 10m, statement: 60s}")
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname=pg_db.name) as holder:
        holder.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")  # what an ALTER TABLE holds
        # --timeout overrides the spec's lock limit, which the test would otherwise wait out.
        code, out, err = _run(
            capsys, "check", "--spec", spec, "--no-progress", "--timeout", "lock=1s", *_outputs(tmp_path)
        )
        holder.rollback()
    assert code == EXIT_SYSTEM, out + err
    # The run is incomplete (exit 3) and says why, for each check that gave up.
    said = " ".join(out.split())  # the console wraps long lines
    assert re.search(
        r"check_error: reconciliation check reconciliation on items could not run: .*"
        r"lock timeout \(another session holds a lock( on table \S*items\S*)?; waited timeouts.lock: 1 s\)",
        said,
    ), said
    assert "Traceback" not in out + err


def _reads(database: PgDatabase) -> tuple[int, ...]:
    """What pg_stat_user_tables has counted of reads of items (scans and rows fetched), once every
    other session of the database has ended: a backend flushes its counts as it exits, before it
    leaves pg_stat_activity, so counts read earlier could miss reads of a session still closing."""
    deadline = time.monotonic() + 30
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", dbname=database.name, autocommit=True
    ) as conn:
        while True:
            others = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            ).fetchone()
            if others == (0,):
                break
            assert time.monotonic() < deadline, f"sessions of {database.name} still open after 30 s"
            time.sleep(0.05)
        conn.execute("SELECT pg_stat_clear_snapshot()")  # no counts cached from an earlier read
        rows = conn.execute(
            "SELECT seq_scan, seq_tup_read, coalesce(idx_scan, 0), coalesce(idx_tup_fetch, 0) "
            "FROM pg_stat_user_tables WHERE relname = 'items'"
        ).fetchall()
    return tuple(int(value) for value in rows[0])


def test_with_a_replica_the_primary_sees_no_row_read(
    pg_db: PgDatabase, pg_db2: PgDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replica_databases = make_pg_database()
    replica = next(replica_databases)
    try:
        for database in (pg_db, pg_db2, replica):
            database.execute(*ITEMS)
        primary_before, replica_before = _reads(pg_db), _reads(replica)
        spec = _spec(tmp_path, pg_db.url, pg_db2.url, f"replica_url: {replica.url}")
        code, out, err = _run(capsys, "check", "--spec", spec, "--no-progress", *_outputs(tmp_path))
        assert code == EXIT_OK, out + err
        assert _reads(replica) != replica_before  # the rows were read there, and counted
        assert _reads(pg_db) == primary_before

        # The same check without the replica reads the primary: the counters can see it.
        plain = _spec(tmp_path, pg_db.url, pg_db2.url)
        code, out, err = _run(capsys, "check", "--spec", plain, "--no-progress", *_outputs(tmp_path))
        assert code == EXIT_OK, out + err
        assert _reads(pg_db) != primary_before
    finally:
        replica_databases.close()


def test_a_whole_check_needs_one_reader_of_the_source(
    pg_db: PgDatabase, pg_db2: PgDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for database in (pg_db, pg_db2):
        database.execute(*ITEMS)
    # One reader and no wait: a check that opened the source twice at once would refuse itself.
    spec = _spec(tmp_path, pg_db.url, pg_db2.url, "max_readers: 1", "readers_wait: 0")
    code, out, err = _run(capsys, "check", "--spec", spec, "--no-progress", *_outputs(tmp_path))
    assert code == EXIT_OK, out + err


def test_an_unreachable_replica_is_a_system_failure_that_keeps_its_password(
    pg_db: PgDatabase, pg_db2: PgDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for database in (pg_db, pg_db2):
        database.execute(*ITEMS)
    # The replica's password differs from the primary's: it must be masked on its own account.
    replica = f"postgresql://postgres:{PREFIX}{SUFFIX}@{PG_HOST}:{PG_PORT}/{pg_db.name}_no_such_replica"
    spec = _spec(tmp_path, pg_db.url, pg_db2.url, f"replica_url: {replica}")
    code, out, err = _run(capsys, "check", "--spec", spec, "--no-progress", *_outputs(tmp_path))
    assert_clean(code, out, err, tmp_path, expected=EXIT_SYSTEM, names=["_no_such_replica", "does not exist"])


def test_a_check_past_max_readers_is_refused_with_exit_3_naming_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ddl = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)"
    source, target = _sqlite(tmp_path / "s.db", ddl), _sqlite(tmp_path / "t.db", ddl)
    spec = _spec(tmp_path, source, target, "max_readers: 1", "readers_wait: 200ms")
    # Another check of the same source holds its only reader slot.
    with reader_slot(source_tag(source), ReadLimits(max_readers=1, readers_wait=0)):
        code, out, err = _run(capsys, "check", "--spec", spec, "--no-progress", *_outputs(tmp_path))
    assert_clean(
        code,
        out,
        err,
        tmp_path,
        expected=EXIT_SYSTEM,
        names=["1 reader(s) already reading it (source.max_readers)", "waited 0.2 s (source.readers_wait)"],
    )
    code, out, err = _run(capsys, "check", "--spec", spec, "--no-progress", *_outputs(tmp_path))
    assert code == EXIT_OK, out + err  # the slot free again, the same check runs
