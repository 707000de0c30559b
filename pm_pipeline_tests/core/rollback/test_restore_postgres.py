"""Snapshot, damage, plan, approve and restore on real PostgreSQL: rows, sequences, index, exports, cycles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pm_pipeline.core.errors import IntegrityRefusal
from pm_pipeline.core.rollback import (
    assess_risk,
    build_plan,
    create_snapshot,
    execute_plan,
    verify_audit_log,
)

from . import data

pytestmark = pytest.mark.postgres


def _damaged(pg_db: Any, tmp_path: Path) -> Any:
    pg_db.execute(*data.PG_SCHEMA)
    manifest = create_snapshot(pg_db.url, tables=data.TABLES, snapshot_dir=tmp_path / "snap")
    pg_db.execute(*data.PG_DAMAGE)
    return manifest


def test_restore_brings_back_rows_sequences_and_index(pg_db: Any, tmp_path: Path) -> None:
    manifest = _damaged(pg_db, tmp_path)
    assert manifest.verified
    assert data.checksums(pg_db.url) != data.recorded(manifest)
    plan, audit = data.approved_plan(pg_db.url, manifest, tmp_path)
    assert plan.load_order == ("customers", "orders", "order_items")

    result = execute_plan(plan, audit_log=audit, export_dir=tmp_path / "exports", dry_run=False)

    assert result.restored
    assert data.checksums(pg_db.url) == data.recorded(manifest)
    assert pg_db.query("SELECT nextval('customers_id_seq'), nextval('orders_id_seq')") == [(301, 601)]
    assert ("orders_placed_idx",) in pg_db.query(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'orders'"
    )
    # The rows written after the snapshot were exported before being replaced, not lost.
    exported = {p.name.split(".")[0]: pq.read_table(p) for p in (tmp_path / "exports").glob("*.parquet")}
    assert "new after cutover" in exported["customers"].column("name").to_pylist()
    assert exported["customers"].column("name").to_pylist().count("changed") == 6
    assert exported["orders"].num_rows == 1
    check = verify_audit_log(audit)
    assert check.ok and check.records > 10
    # The last step reconciled every restored table with its snapshot file, row by row.
    assert [s.name for s in result.steps][-3:] == ["apply_restore", "verify_restore", "reconcile"]
    assert result.steps[-1].detail.startswith("every restored table matches its snapshot")
    assert "order_items: 1200 of 1200 rows match" in result.steps[-1].detail


def test_risk_counts_changes_since_snapshot(pg_db: Any, tmp_path: Path) -> None:
    manifest = _damaged(pg_db, tmp_path)
    plan = build_plan(manifest.directory, target_url=pg_db.url)
    risk = assess_risk(plan, export_dir=tmp_path / "exports")
    by_table = {t.table: (t.inserted, t.updated, t.deleted) for t in risk.tables}
    assert by_table == {"customers": (1, 6, 0), "orders": (1, 0, 0), "order_items": (0, 0, 40)}
    assert risk.level == "high"
    assert risk.measured_rows_per_second > 0 and risk.estimated_seconds > 0


def _unchanged_after(pg_db: Any, tmp_path: Path, run: Any) -> None:
    before = data.checksums(pg_db.url)
    run()
    assert data.checksums(pg_db.url) == before


def test_dry_run_writes_nothing_and_shows_the_sql(pg_db: Any, tmp_path: Path) -> None:
    manifest = _damaged(pg_db, tmp_path)
    plan = build_plan(manifest.directory, target_url=pg_db.url)
    holder: dict[str, Any] = {}

    def run() -> None:
        holder["result"] = execute_plan(
            plan, audit_log=tmp_path / "a.jsonl", export_dir=tmp_path / "x", dry_run=True
        )

    _unchanged_after(pg_db, tmp_path, run)
    steps = {s.name: s for s in holder["result"].steps}
    assert steps["apply_restore"].status == "dry_run"
    assert any(line.startswith('DELETE FROM "order_items"') for line in steps["apply_restore"].sql)
    # Every step shows what it runs against the target, as the connector renders it.
    assert all(step.sql for step in steps.values())
    assert (
        'SELECT "order_id" AS "order_id", "line" AS "line", "qty" AS "qty", "price"::text AS "price" '
        'FROM "public"."order_items"' in steps["reconcile"].sql
    )


def test_fk_cycle_needs_deferrable_constraints(pg_db: Any, tmp_path: Path) -> None:
    pg_db.execute(
        "CREATE TABLE a (id int PRIMARY KEY, b_id int)",
        "CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a(id))",
        "ALTER TABLE a ADD CONSTRAINT a_b FOREIGN KEY (b_id) REFERENCES b(id)",
        "INSERT INTO a VALUES (1, NULL)",
        "INSERT INTO b VALUES (1, 1)",
        "UPDATE a SET b_id = 1",
    )
    manifest = create_snapshot(pg_db.url, tables=["a", "b"], snapshot_dir=tmp_path / "s1")
    with pytest.raises(IntegrityRefusal, match=r"cycle.*not DEFERRABLE"):
        build_plan(manifest.directory, target_url=pg_db.url)
    pg_db.execute(
        "ALTER TABLE a ALTER CONSTRAINT a_b DEFERRABLE",
        "ALTER TABLE b ALTER CONSTRAINT b_a_id_fkey DEFERRABLE",
    )
    manifest = create_snapshot(pg_db.url, tables=["a", "b"], snapshot_dir=tmp_path / "s2")
    plan, audit = data.approved_plan(
        pg_db.url, manifest, tmp_path, approvers=("alice",), approvals_required=1
    )
    assert plan.deferred_cycles
    pg_db.execute("UPDATE a SET b_id = NULL", "DELETE FROM b")
    execute_plan(plan, audit_log=audit, export_dir=tmp_path / "x", dry_run=False)
    assert pg_db.query("SELECT a.id, a.b_id, b.a_id FROM a JOIN b ON b.id = a.b_id") == [(1, 1, 1)]
