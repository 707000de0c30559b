"""Snapshot, damage, plan, approve and restore on real MariaDB by shadow tables and one atomic RENAME TABLE."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pymysql
import pytest

from pm_pipeline.core.errors import IntegrityRefusal
from pm_pipeline.core.rollback import Manifest, build_plan, create_snapshot, execute_plan

from . import data

pytestmark = pytest.mark.mariadb
INCREMENTS = (
    "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
)


def test_mariadb_restore_round_trip(mariadb_db: Any, tmp_path: Path) -> None:
    mariadb_db.execute(*data.MY_SCHEMA)
    manifest = create_snapshot(mariadb_db.url, tables=data.TABLES, snapshot_dir=tmp_path / "snap")
    increments = mariadb_db.query(INCREMENTS)
    mariadb_db.execute(*data.MY_DAMAGE)
    # What a run killed after its swap leaves behind; this run must drop it, not trip over it.
    mariadb_db.execute(
        f"CREATE DATABASE `{mariadb_db.name}__pm_old`",
        f"CREATE TABLE `{mariadb_db.name}__pm_old`.customers (id int PRIMARY KEY)",
    )
    audit = tmp_path / "audit.jsonl"
    plan = build_plan(manifest.directory, target_url=mariadb_db.url)
    with pytest.raises(IntegrityRefusal, match="0 approval"):
        execute_plan(plan, audit_log=audit, export_dir=tmp_path / "exports", dry_run=False)
    assert data.checksums(mariadb_db.url) != data.recorded(manifest)

    result = data.approved_restore(mariadb_db.url, manifest, tmp_path)

    assert data.checksums(mariadb_db.url) == data.recorded(manifest)
    assert mariadb_db.query(INCREMENTS) == increments
    names = {row[2] for row in mariadb_db.query("SHOW INDEX FROM orders")}
    assert "orders_placed_idx" in names
    exported = {p.name.split(".")[0]: pq.read_table(p) for p in (tmp_path / "exports").glob("*.parquet")}
    assert "new after cutover" in exported["customers"].column("name").to_pylist()
    assert exported["orders"].num_rows == 1
    apply = next(s for s in result.steps if s.name == "apply_restore")
    assert "swapped in with one RENAME TABLE" in apply.detail
    assert sum(statement.startswith("RENAME TABLE") for statement in apply.sql) == 1
    # The restored children reference the restored parents, which reject orphans; nothing is left over.
    assert data.foreign_keys(mariadb_db) == data.MY_FOREIGN_KEYS
    assert data.helper_databases(mariadb_db) == []
    with pytest.raises(pymysql.err.IntegrityError, match="fk_items_order"):
        mariadb_db.execute("INSERT INTO order_items VALUES (999999, 1, 1, 1.000)")
    with pytest.raises(pymysql.err.IntegrityError, match="fk_orders_customer"):
        mariadb_db.execute("DELETE FROM customers WHERE id = 1")


def test_foreign_key_cycle_is_swapped_in(mariadb_db: Any, tmp_path: Path) -> None:
    mariadb_db.execute(
        "CREATE TABLE a (id int PRIMARY KEY, b_id int) ENGINE=InnoDB",
        "CREATE TABLE b (id int PRIMARY KEY, a_id int, CONSTRAINT b_a FOREIGN KEY (a_id) REFERENCES a(id)) "
        "ENGINE=InnoDB",
        "ALTER TABLE a ADD CONSTRAINT a_b FOREIGN KEY (b_id) REFERENCES b(id)",
        "INSERT INTO a VALUES (1, NULL)",
        "INSERT INTO b VALUES (1, 1)",
        "UPDATE a SET b_id = 1",
    )
    manifest = create_snapshot(mariadb_db.url, tables=["a", "b"], snapshot_dir=tmp_path / "s")
    mariadb_db.execute("SET FOREIGN_KEY_CHECKS = 0", "DELETE FROM b", "UPDATE a SET b_id = NULL")

    data.approved_restore(mariadb_db.url, manifest, tmp_path)

    assert mariadb_db.query("SELECT a.id, a.b_id, b.a_id FROM a JOIN b ON b.id = a.b_id") == [(1, 1, 1)]
    assert data.foreign_keys(mariadb_db) == [("a", "a_b", 1, "b"), ("b", "b_a", 1, "a")]


def _refused_before_any_write(db: Any, manifest: Manifest, tmp_path: Path, match: str) -> None:
    tables = [t.name for t in manifest.tables]
    before = data.checksums(db.url, tables)
    with pytest.raises(IntegrityRefusal, match=match):
        data.approved_restore(db.url, manifest, tmp_path)
    assert data.checksums(db.url, tables) == before


def test_tables_referenced_from_outside_the_snapshot_are_refused(mariadb_db: Any, tmp_path: Path) -> None:
    # After a swap, the outside table's foreign key would follow the replaced parent into the old database.
    mariadb_db.execute(*data.MY_SCHEMA)
    manifest = create_snapshot(mariadb_db.url, tables=["customers"], snapshot_dir=tmp_path / "s")
    mariadb_db.execute(*data.MY_DAMAGE)
    _refused_before_any_write(mariadb_db, manifest, tmp_path, r"orders \(fk_orders_customer -> customers\)")
    assert data.helper_databases(mariadb_db) == []


def test_tables_with_triggers_are_refused(mariadb_db: Any, tmp_path: Path) -> None:
    mariadb_db.execute(
        *data.MY_SCHEMA,
        "CREATE TRIGGER items_qty BEFORE INSERT ON order_items FOR EACH ROW SET NEW.qty = ABS(NEW.qty)",
    )
    manifest = create_snapshot(mariadb_db.url, tables=data.TABLES, snapshot_dir=tmp_path / "s")
    mariadb_db.execute(*data.MY_DAMAGE)
    _refused_before_any_write(mariadb_db, manifest, tmp_path, r"trigger\(s\) order_items.items_qty")
    assert data.helper_databases(mariadb_db) == []


def test_a_shadow_that_does_not_verify_is_never_swapped_in(mariadb_db: Any, tmp_path: Path) -> None:
    # A snapshot DDL that no longer holds the rows (here: one decimal digit less, which MariaDB
    # rounds without an error) must be caught on the shadow, before the swap.
    mariadb_db.execute(*data.MY_SCHEMA)
    manifest = create_snapshot(mariadb_db.url, tables=data.TABLES, snapshot_dir=tmp_path / "s")
    mariadb_db.execute(*data.MY_DAMAGE)
    path = Path(manifest.directory) / "manifest.json"
    document = json.loads(path.read_text())
    document["tables"][0]["ddl"] = document["tables"][0]["ddl"].replace("decimal(12,2)", "decimal(12,1)")
    path.write_text(json.dumps(document))
    _refused_before_any_write(
        mariadb_db, manifest, tmp_path, r"shadow table \S+__pm_shadow.customers holds 300 rows"
    )
    # The shadows stay for inspection until the next run drops them.
    assert data.helper_databases(mariadb_db) == [
        f"{mariadb_db.name}__pm_old",
        f"{mariadb_db.name}__pm_shadow",
    ]


def test_a_child_restored_without_its_parent_keeps_referencing_the_live_parent(
    mariadb_db: Any, tmp_path: Path
) -> None:
    mariadb_db.execute(*data.MY_SCHEMA)
    manifest = create_snapshot(mariadb_db.url, tables=["orders", "order_items"], snapshot_dir=tmp_path / "s")
    mariadb_db.execute("DELETE FROM order_items WHERE order_id <= 20", "UPDATE orders SET note = 'x'")

    data.approved_restore(mariadb_db.url, manifest, tmp_path)

    assert data.checksums(mariadb_db.url, ["orders", "order_items"]) == data.recorded(manifest)
    assert data.foreign_keys(mariadb_db) == data.MY_FOREIGN_KEYS
    with pytest.raises(pymysql.err.IntegrityError, match="fk_orders_customer"):
        mariadb_db.execute("INSERT INTO orders (customer_id) VALUES (999999)")
