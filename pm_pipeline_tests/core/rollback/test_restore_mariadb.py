"""Snapshot, damage, plan, approve and restore on real MariaDB: rows, AUTO_INCREMENT, index, exported changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pm_pipeline.core.connectors import connect
from pm_pipeline.core.errors import IntegrityRefusal
from pm_pipeline.core.rollback import approve, build_plan, create_snapshot, execute_plan
from pm_pipeline.core.rollback.checksum import table_checksum

from . import data

pytestmark = pytest.mark.mariadb


def _checksums(url: str) -> dict[str, tuple[int, str]]:
    with connect(url) as connector:
        return {t: (d.rows, d.checksum) for t in data.TABLES for d in [table_checksum(connector, t)]}


def test_mariadb_restore_round_trip(mariadb_db: Any, tmp_path: Path) -> None:
    mariadb_db.execute(*data.MY_SCHEMA)
    manifest = create_snapshot(mariadb_db.url, tables=data.TABLES, snapshot_dir=tmp_path / "snap")
    increments = mariadb_db.query(
        "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
    )
    mariadb_db.execute(*data.MY_DAMAGE)
    audit = tmp_path / "audit.jsonl"
    plan = build_plan(manifest.directory, target_url=mariadb_db.url)
    with pytest.raises(IntegrityRefusal, match="0 approval"):
        execute_plan(plan, audit_log=audit, export_dir=tmp_path / "exports", dry_run=False)
    assert _checksums(mariadb_db.url) != {t.name: (t.rows, t.checksum) for t in manifest.tables}
    approve(plan, approver="alice", audit_log=audit)
    approve(plan, approver="bob", audit_log=audit)

    execute_plan(plan, audit_log=audit, export_dir=tmp_path / "exports", dry_run=False)

    assert _checksums(mariadb_db.url) == {t.name: (t.rows, t.checksum) for t in manifest.tables}
    assert (
        mariadb_db.query(
            "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
        )
        == increments
    )
    names = {row[2] for row in mariadb_db.query("SHOW INDEX FROM orders")}
    assert "orders_placed_idx" in names
    exported = {p.name.split(".")[0]: pq.read_table(p) for p in (tmp_path / "exports").glob("*.parquet")}
    assert "new after cutover" in exported["customers"].column("name").to_pylist()
    assert exported["orders"].num_rows == 1
