"""What the steps report: the target's SELECTs as its connector renders them, and typed checksums."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core.connectors import connect
from pm_pipeline.core.rollback import approve, build_plan, create_snapshot, execute_plan, run_step
from pm_pipeline.core.rollback.checksum import select_sql

from . import data


def _sqlite_target(tmp_path: Path) -> str:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT, price DECIMAL(8,2))")
        conn.execute("INSERT INTO parent VALUES (1, 'a', 1.5), (2, NULL, NULL)")
    return f"sqlite:///{path}"


def _duckdb_target(tmp_path: Path) -> str:
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "t.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY, name VARCHAR, price DECIMAL(8,2))")
        conn.execute("INSERT INTO parent VALUES (1, 'a', 1.5), (2, NULL, NULL)")
    return f"duckdb:///{path}"


@pytest.fixture(
    params=[
        "sqlite",
        "duckdb",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, list[str]]:
    engine = str(request.param)
    if engine == "sqlite":
        return _sqlite_target(tmp_path), ["parent"]
    if engine == "duckdb":
        return _duckdb_target(tmp_path), ["parent"]
    db = request.getfixturevalue("pg_db" if engine == "postgres" else "mariadb_db")
    db.execute(*(data.PG_SCHEMA if engine == "postgres" else data.MY_SCHEMA))
    return str(db.url), data.TABLES


def test_read_sql_is_the_connectors_own(target: tuple[str, list[str]], tmp_path: Path) -> None:
    url, tables = target
    manifest = create_snapshot(url, tables=tables, snapshot_dir=tmp_path / "snap")
    plan = build_plan(manifest.directory, target_url=url)
    shown = run_step(
        plan,
        plan.step("verify_restore"),
        audit_log=tmp_path / "a.jsonl",
        export_dir=tmp_path / "x",
        dry_run=True,
    ).sql
    with connect(url) as connector:
        rendered = tuple(
            select_sql(connector, connector.qualified(name), manifest.table(name).schema)
            for name in plan.load_order
        )
    assert shown == rendered


@pytest.mark.postgres
def test_read_sql_is_rendered_without_a_connection(pg_db: Any, tmp_path: Path) -> None:
    pg_db.execute(*data.PG_SCHEMA)
    manifest = create_snapshot(pg_db.url, tables=data.TABLES, snapshot_dir=tmp_path / "snap")
    # Nothing listens on port 1: a step that connected would fail.
    plan = build_plan(manifest.directory, target_url="postgresql://postgres@127.0.0.1:1/gone?schema=sales")
    for step in ("verify_restore", "reconcile"):
        result = run_step(
            plan, plan.step(step), audit_log=tmp_path / "a.jsonl", export_dir=tmp_path / "x", dry_run=True
        )
        assert (
            'SELECT "order_id" AS "order_id", "line" AS "line", "qty" AS "qty", "price"::text AS "price" '
            'FROM "sales"."order_items"'
        ) in result.sql


def test_verify_restore_reports_checksums_in_a_field(tmp_path: Path) -> None:
    url = _sqlite_target(tmp_path)
    manifest = create_snapshot(url, tables=["parent"], snapshot_dir=tmp_path / "snap")
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.execute("DELETE FROM parent WHERE id = 2")
    plan = build_plan(manifest.directory, target_url=url, approvals_required=1)
    approve(plan, approver="alice", audit_log=tmp_path / "a.jsonl")
    result = execute_plan(plan, audit_log=tmp_path / "a.jsonl", export_dir=tmp_path / "x", dry_run=False)
    verify = next(s for s in result.steps if s.name == "verify_restore")
    assert verify.checksums == result.checksums == {"parent": manifest.table("parent").checksum}
    assert all(not s.checksums for s in result.steps if s.name != "verify_restore")
