"""No row another session writes after the last export of changed rows is deleted unexported.

The last export (``before_write``) runs once other sessions can no longer write to the restored
tables: a write attempted then waits for the restore's COMMIT (and here, with a short lock
timeout, fails), so it is never both accepted and wiped out.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core.connectors import connect
from pm_pipeline.core.rollback import build_plan, create_snapshot, load_manifest
from pm_pipeline.core.rollback import sql as restore_sql

from . import data


def _restore(url: str, snapshot: str, before_write: Any) -> restore_sql.RestoreOutcome:
    plan = build_plan(snapshot, target_url=url)
    with connect(url) as connector:
        return restore_sql.apply_restore(
            connector,
            load_manifest(snapshot),
            order=list(plan.load_order),
            defer=bool(plan.deferred_cycles),
            before_write=before_write,
        )


def _restored(url: str, snapshot: str) -> bool:
    manifest = load_manifest(snapshot)
    return data.checksums(url, [t.name for t in manifest.tables]) == data.recorded(manifest)


@pytest.mark.postgres
def test_postgres_writes_wait_from_the_last_export_to_commit(pg_db: Any, tmp_path: Path) -> None:
    import psycopg

    pg_db.execute(*data.PG_SCHEMA)
    manifest = create_snapshot(pg_db.url, tables=data.TABLES, snapshot_dir=tmp_path / "snap")
    pg_db.execute(*data.PG_DAMAGE)
    seen: dict[str, object] = {}

    def before_write() -> None:
        with psycopg.connect(pg_db.url, autocommit=True) as other:
            other.execute("SET lock_timeout = '200ms'")
            row = other.execute("SELECT count(*) FROM customers").fetchone()
            seen["read"] = row[0] if row else None  # the export reads on its own connection
            try:
                other.execute("INSERT INTO customers (name) VALUES ('written during the restore')")
                seen["insert"] = "committed"
            except psycopg.errors.LockNotAvailable as exc:
                seen["insert"] = exc.sqlstate

    outcome = _restore(pg_db.url, manifest.directory, before_write)

    assert seen == {"read": 301, "insert": "55P03"}  # 55P03: lock_not_available, nothing committed
    assert pg_db.query("SELECT count(*) FROM customers WHERE name = 'written during the restore'") == [(0,)]
    assert outcome.sql[0] == (
        'LOCK TABLE "public"."customers", "public"."orders", "public"."order_items" IN EXCLUSIVE MODE'
    )
    assert _restored(pg_db.url, manifest.directory)
    # Once committed, the same write goes through.
    pg_db.execute("INSERT INTO customers (name) VALUES ('written after the restore')")
    assert pg_db.query("SELECT count(*) FROM customers") == [(301,)]


def test_sqlite_writes_wait_from_the_last_export_to_commit(tmp_path: Path) -> None:
    path, url, manifest = data.sqlite_changed_since_snapshot(tmp_path)
    seen: dict[str, object] = {}

    def before_write() -> None:
        other = sqlite3.connect(path, timeout=0)
        try:
            seen["read"] = other.execute("SELECT count(*) FROM t").fetchone()[0]
            other.execute("INSERT INTO t VALUES (3, 'written during the restore')")
            other.commit()
            seen["insert"] = "committed"
        except sqlite3.OperationalError as exc:
            seen["insert"] = str(exc)
        finally:
            other.close()

    _restore(url, manifest.directory, before_write)

    assert seen == {"read": 2, "insert": "database is locked"}
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT id, name FROM t ORDER BY id").fetchall() == [(1, "a"), (2, "b")]


def test_duckdb_exports_while_no_other_process_can_write(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "t.duckdb"
    url = f"duckdb:///{path}"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR)")
        conn.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    manifest = create_snapshot(url, tables=["t"], snapshot_dir=tmp_path / "snap")
    with duckdb.connect(str(path)) as conn:
        conn.execute("UPDATE t SET name = 'changed' WHERE id = 2")
    seen: dict[str, object] = {}
    writer = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute(\"INSERT INTO t VALUES (3, 'x')\")"

    def before_write() -> None:
        other = subprocess.run(
            [sys.executable, "-c", writer, str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        seen["refused"] = other.returncode != 0 and "lock" in other.stderr.lower()

    _restore(url, manifest.directory, before_write)

    assert seen == {"refused": True}
    assert _restored(url, manifest.directory)
