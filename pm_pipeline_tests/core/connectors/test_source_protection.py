"""The source is protected on every engine: its sessions refuse writes (the Arrow readers' too)
while the target's do not, its streams keep max_rows_per_second, and max_readers bounds the
connectors reading it at once, in threads and in other processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pm_pipeline.core.config.protection import ReadLimits
from pm_pipeline.core.config.spec import Endpoint, MigrationSpec
from pm_pipeline.core.connectors import Connector, open_endpoint
from pm_pipeline.core.connectors.limits import reader_slot
from pm_pipeline.core.errors import BadInputError, ConnectionFailure, SystemFailure
from pm_pipeline_tests.conftest import MyDatabase, PgDatabase

ITEMS = "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(20))"
ROWS = "INSERT INTO items VALUES (1, 'a'), (2, 'b')"


def _spec(source: str, target: str, **protection: object) -> MigrationSpec:
    return MigrationSpec.model_validate(
        {"source": {"url": source, **protection}, "target": {"url": target}, "tables": [{"source": "items"}]}
    )


def _sqlite(path: Path, *statements: str) -> str:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
    return f"sqlite:///{path}"


def _write_attempts(connector: Connector) -> list[str]:
    """Every way a write could reach the source through its connector: what each one raised."""
    refused = []
    for attempt in (
        lambda: connector.execute("INSERT INTO items VALUES (3, 'c')"),
        lambda: connector.query_arrow("DELETE FROM items"),
        lambda: list(connector.stream_query("UPDATE items SET name = 'z'")),
    ):
        # Each engine words its refusal its own way: the message is checked by the caller.
        with pytest.raises(Exception) as raised:
            attempt()
        refused.append(str(raised.value))
    with pytest.raises(BadInputError, match="source: it is only ever read"), connector.transaction() as tx:
        tx.execute("DELETE FROM items")
    return refused


def _assert_source_read_only(spec: MigrationSpec, count_source: object, count_target: object) -> None:
    with open_endpoint(spec.source) as source:
        refused = _write_attempts(source)
    assert all(
        ("read" in text.lower() and "only" in text.lower()) or "readonly" in text.lower() for text in refused
    ), refused
    assert count_source() == 2  # type: ignore[operator]
    # The target is a plain endpoint: the rollback still writes to it.
    with open_endpoint(spec.target) as target, target.transaction() as tx:
        tx.execute("DELETE FROM items WHERE id = 2")
    assert count_target() == 1  # type: ignore[operator]


def test_a_postgresql_source_refuses_writes_the_target_takes_them(
    pg_db: PgDatabase, pg_db2: PgDatabase
) -> None:
    for database in (pg_db, pg_db2):
        database.execute(ITEMS, ROWS)
    spec = _spec(pg_db.url, pg_db2.url)
    _assert_source_read_only(
        spec,
        lambda: pg_db.query("SELECT count(*) FROM items")[0][0],
        lambda: pg_db2.query("SELECT count(*) FROM items")[0][0],
    )


def test_a_mariadb_source_refuses_writes(mariadb_db: MyDatabase, tmp_path: Path) -> None:
    mariadb_db.execute(ITEMS, ROWS)
    target = _sqlite(tmp_path / "t.db", ITEMS, ROWS)
    _assert_source_read_only(
        _spec(mariadb_db.url, target),
        lambda: mariadb_db.query("SELECT count(*) FROM items")[0][0],
        lambda: sqlite3.connect(tmp_path / "t.db").execute("SELECT count(*) FROM items").fetchone()[0],
    )


def test_sqlite_and_duckdb_sources_refuse_writes(tmp_path: Path) -> None:
    source = _sqlite(tmp_path / "s.db", ITEMS, ROWS)
    with duckdb.connect(str(tmp_path / "t.duckdb")) as conn:
        conn.execute(ITEMS)
        conn.execute(ROWS)
    target = f"duckdb:///{tmp_path / 't.duckdb'}"
    _assert_source_read_only(
        _spec(source, target),
        lambda: sqlite3.connect(tmp_path / "s.db").execute("SELECT count(*) FROM items").fetchone()[0],
        lambda: (
            duckdb.connect(str(tmp_path / "t.duckdb")).execute("SELECT count(*) FROM items").fetchone()[0]
        ),  # type: ignore[index]
    )
    with duckdb.connect(str(tmp_path / "s.duckdb")) as conn:
        conn.execute(ITEMS)
        conn.execute(ROWS)
    spec = _spec(f"duckdb:///{tmp_path / 's.duckdb'}", source)
    with open_endpoint(spec.source) as duck:
        _write_attempts(duck)


def test_a_paced_read_takes_its_time_and_returns_the_same_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as conn:
        conn.execute(ITEMS)
        conn.executemany("INSERT INTO items VALUES (?, ?)", [(k, f"n{k}") for k in range(20_000)])
    unpaced, paced = (
        _spec(f"sqlite:///{path}", f"sqlite:///{path}", **extra)
        for extra in ({}, {"max_rows_per_second": 10_000})
    )
    with open_endpoint(unpaced.source) as source:
        expected = pa.Table.from_batches(list(source.stream_table("items")))
    started = time.monotonic()
    with open_endpoint(paced.source) as source:
        got = pa.Table.from_batches(list(source.stream_table("items")))
    elapsed = time.monotonic() - started
    assert elapsed >= 1.9  # 20,000 rows at 10,000 a second: a lower bound only
    assert got.equals(expected)


def test_readers_past_max_readers_wait_then_are_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = _sqlite(tmp_path / "s.db", ITEMS, ROWS)
    spec = _spec(source, source, max_readers=2, readers_wait="300ms")
    active, peak, guard = 0, 0, threading.Lock()

    def read() -> None:
        nonlocal active, peak
        with open_endpoint(_spec(source, source, max_readers=2, readers_wait="30s").source) as connector:
            with guard:
                active += 1
                peak = max(peak, active)
            connector.row_count("items")
            time.sleep(0.1)
            with guard:
                active -= 1

    threads = [threading.Thread(target=read) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 2  # six readers, never more than two at once

    first, second = open_endpoint(spec.source), open_endpoint(spec.source)
    with pytest.raises(SystemFailure, match=r"2 reader\(s\) already reading it \(source.max_readers\)"):
        open_endpoint(spec.source)
    assert "waiting up to 0.3 s for one to end" in caplog.text  # said while waiting, not only at the end
    first.__exit__(None, None, None)
    with open_endpoint(spec.source) as third:
        assert third.row_count("items") == 2
    second.__exit__(None, None, None)


def test_another_process_holding_the_only_reader_slot_makes_a_check_wait(tmp_path: Path) -> None:
    source = _sqlite(tmp_path / "s.db", ITEMS, ROWS)
    holder = (
        "import sys, time\n"
        "from pm_pipeline.core.config.spec import MigrationSpec\n"
        "from pm_pipeline.core.connectors import open_endpoint\n"
        "spec = MigrationSpec.model_validate({'source': {'url': sys.argv[1], 'max_readers': 1},"
        " 'target': {'url': sys.argv[1]}, 'discover': True})\n"
        "with open_endpoint(spec.source):\n"
        "    print('holding', flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", holder, source], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "holding"
        spec = _spec(source, source, max_readers=1, readers_wait="300ms")
        with pytest.raises(SystemFailure, match="max_readers"):
            open_endpoint(spec.source)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)
    with open_endpoint(spec.source) as connector:  # the slot came back with the process's end
        assert connector.row_count("items") == 2


def test_a_plain_endpoint_given_as_the_source_is_protected_too(tmp_path: Path) -> None:
    source = _sqlite(tmp_path / "s.db", ITEMS, ROWS)
    spec = MigrationSpec(source=Endpoint(url=source), target=Endpoint(url=source), discover=True)
    with (
        open_endpoint(spec.source) as connector,
        pytest.raises(BadInputError, match="only ever read"),
        connector.transaction(),
    ):
        pass


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        # A pace of 0 would stop every read for ever: refused, not obeyed.
        ("max_rows_per_second", 0, "rows per second above 0"),
        ("max_rows_per_second", "fast", "rows per second above 0"),
        # YAML reads 'yes' as true: not a number of readers.
        ("max_readers", True, "whole number of readers"),
        ("max_readers", 0, "whole number of readers"),
        ("readers_wait", "soon", "expected a duration"),
        ("replica_url", "", "at least 1 character"),
        # A replica is the same database: another engine's URL is a mistake, not a replica.
        ("replica_url", "mysql://ro@replica/shop", "replica_url is a mysql URL but url is sqlite"),
    ],
)
def test_a_malformed_limit_is_refused_with_its_key(key: str, value: object, expected: str) -> None:
    with pytest.raises(ValueError, match=expected) as raised:
        _spec("sqlite:///s.db", "sqlite:///t.db", **{key: value})
    assert key in str(raised.value)


def test_a_mariadb_read_behind_a_table_lock_gives_up_after_timeouts_lock(mariadb_db: MyDatabase) -> None:
    import pymysql

    mariadb_db.execute(ITEMS, ROWS)
    spec = _spec(mariadb_db.url, mariadb_db.url, timeouts={"lock": "1s", "statement": "60s"})
    holder = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=mariadb_db.name)
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLES items WRITE")  # what an ALTER TABLE holds while it copies
        with open_endpoint(spec.source) as source:
            for read in (lambda: source.row_count("items"), lambda: list(source.stream_table("items"))):
                with pytest.raises(Exception, match=r"(?i)lock wait timeout"):
                    read()
    finally:
        holder.close()


def test_a_sqlite_read_behind_a_writer_gives_up_after_timeouts_lock(tmp_path: Path) -> None:
    source = _sqlite(tmp_path / "s.db", ITEMS, ROWS)
    spec = _spec(source, source, timeouts={"lock": "300ms"})
    holder = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    try:
        with open_endpoint(spec.source) as connector:
            holder.execute("BEGIN EXCLUSIVE")  # a writer committing, in a rollback-journal database
            with pytest.raises(ConnectionFailure) as raised:
                connector.row_count("items")
        with pytest.raises(ConnectionFailure) as opening:  # the lock was there before the check
            open_endpoint(spec.source)
    finally:
        holder.close()
    for failure in (raised, opening):
        assert "database is locked" in str(failure.value)
        assert "waited timeouts.lock: 0.3 s" in str(failure.value)


def test_an_unusable_reader_lock_folder_is_a_system_failure_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with (
        pytest.raises(SystemFailure, match=r"cannot take a reader slot in .*not-a-folder"),
        reader_slot("src-x", ReadLimits(max_readers=1, readers_wait=0), lock_dir=blocker),
    ):
        pass


def test_a_paced_postgresql_stream_keeps_the_pace(pg_db: PgDatabase) -> None:
    # The Arrow reader (ADBC) decodes ahead in a thread of its own: the pace still holds.
    pg_db.execute(ITEMS, "INSERT INTO items SELECT k, 'n' || k FROM generate_series(1, 20000) k")
    spec = _spec(pg_db.url, pg_db.url, max_rows_per_second=10_000)
    started = time.monotonic()
    with open_endpoint(spec.source) as source:
        rows = sum(batch.num_rows for batch in source.stream_query("SELECT id, name FROM items"))
    assert time.monotonic() - started >= 1.9  # a lower bound only
    assert rows == 20_000
