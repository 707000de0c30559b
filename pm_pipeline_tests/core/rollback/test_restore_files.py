"""Restore on the embedded engines (SQLite, DuckDB): one transaction, children emptied before parents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core.connectors import connect
from pm_pipeline.core.errors import IntegrityRefusal
from pm_pipeline.core.rollback import approve, build_plan, create_snapshot, execute_plan
from pm_pipeline.core.rollback.checksum import table_checksum

from . import data

SCHEMA = [
    "CREATE TABLE parent (id INTEGER PRIMARY KEY, name VARCHAR)",
    "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id), v DECIMAL(6,2))",
    "INSERT INTO parent VALUES (1, 'a'), (2, 'b'), (3, NULL)",
    "INSERT INTO child VALUES (10, 1, 1.25), (11, 2, NULL), (12, 3, -4.5)",
]
DAMAGE = [
    "DELETE FROM child WHERE id = 12",
    "UPDATE child SET v = 0 WHERE id = 10",
    "INSERT INTO parent VALUES (4, 'new')",
]


def _run(url: str, execute: Any, tmp_path: Path, *, schema: list[str] = SCHEMA) -> None:
    execute(*schema)
    manifest = create_snapshot(url, tables=["parent", "child"], snapshot_dir=tmp_path / "snap")
    execute(*DAMAGE)
    plan, audit = data.approved_plan(url, manifest, tmp_path, approvers=("alice",), approvals_required=1)
    if schema is SCHEMA:  # with the foreign key, parents load first
        assert plan.load_order == ("parent", "child")
    execute_plan(plan, audit_log=audit, export_dir=tmp_path / "x", dry_run=False)
    restored = data.checksum_values(url, ("parent", "child"))
    assert restored == {t.name: t.checksum for t in manifest.tables}


def test_sqlite(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "t.db"

    def execute(*statements: str) -> None:
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA foreign_keys = ON")
            for statement in statements:
                conn.execute(statement)

    _run(f"sqlite:///{path}", execute, tmp_path)


def test_duckdb_refuses_foreign_keys_and_restores_without(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "t.duckdb"

    def execute(*statements: str) -> None:
        with duckdb.connect(str(path)) as conn:
            for statement in statements:
                conn.execute(statement)

    execute(*SCHEMA)
    manifest = create_snapshot(f"duckdb:///{path}", tables=["parent", "child"], snapshot_dir=tmp_path / "s")
    with pytest.raises(IntegrityRefusal, match="DuckDB cannot empty"):
        build_plan(manifest.directory, target_url=f"duckdb:///{path}")
    path.unlink()
    _run(
        f"duckdb:///{path}",
        execute,
        tmp_path,
        schema=[s.replace(" REFERENCES parent(id)", "") for s in SCHEMA],
    )


def test_keyless_changes_are_exported_and_approvals_bind_to_the_snapshot(tmp_path: Path) -> None:
    import sqlite3

    import pyarrow.parquet as pq

    from pm_pipeline.core.rollback import assess_risk

    path = tmp_path / "k.db"
    url = f"sqlite:///{path}"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE log (msg TEXT, n INTEGER)")
        conn.execute("INSERT INTO log VALUES ('a', 1), ('a', 1), ('b', 2)")
    first = create_snapshot(url, tables=["log"], snapshot_dir=tmp_path / "s")
    second = create_snapshot(url, tables=["log"], snapshot_dir=tmp_path / "s")
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM log WHERE rowid = 1")  # one of two identical rows
        conn.execute("INSERT INTO log VALUES ('c', 3)")
    plan = build_plan(first.directory, target_url=url, approvals_required=1)
    risk = assess_risk(plan, export_dir=tmp_path / "x")
    (changes,) = risk.tables
    assert (changes.inserted, changes.deleted) == (1, 1)
    assert changes.export_file is not None
    assert pq.read_table(changes.export_file).to_pylist() == [{"msg": "c", "n": 3}]
    # An approval names one plan; the plan of another snapshot of the same tables is a different plan.
    approve(
        build_plan(second.directory, target_url=url, approvals_required=1),
        approver="a",
        audit_log=tmp_path / "l",
    )
    with pytest.raises(IntegrityRefusal, match="0 approval"):
        execute_plan(plan, audit_log=tmp_path / "l", export_dir=tmp_path / "x", dry_run=False)
    approve(plan, approver="a", audit_log=tmp_path / "l")
    execute_plan(plan, audit_log=tmp_path / "l", export_dir=tmp_path / "x", dry_run=False)
    with connect(url) as connector:
        assert table_checksum(connector, "log").checksum == first.tables[0].checksum
    # One export each from assess_risk, the refused run, the export step and the apply step; none overwritten.
    assert len(list((tmp_path / "x").glob("log.changed.*.parquet"))) == 4
