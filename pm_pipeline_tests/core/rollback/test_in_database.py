"""PostgreSQL in-database snapshots: the copy is verified, restores from it, and is not trusted once changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core.connectors import connect
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.rollback import Manifest, create_snapshot
from pm_pipeline.core.security.audit import AuditLog

from . import data


def _snapshot(pg_db: Any, tmp_path: Path) -> Manifest:
    pg_db.execute(*data.PG_SCHEMA)
    return create_snapshot(pg_db.url, tables=data.TABLES, snapshot_dir=tmp_path / "snap", in_database=True)


@pytest.mark.postgres
def test_restore_from_the_in_database_copy(pg_db: Any, tmp_path: Path) -> None:
    manifest = _snapshot(pg_db, tmp_path)
    copy = manifest.db_copy
    assert copy is not None and manifest.verified
    assert {name: (r.rows, r.checksum) for name, r in copy.tables.items()} == data.recorded(manifest)
    copied = pg_db.query(
        f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{copy.schema}' ORDER BY 1"
    )
    assert copied == [("customers",), ("order_items",), ("orders",)]
    pg_db.execute(*data.PG_DAMAGE)

    result = data.approved_restore(pg_db.url, manifest, tmp_path)

    assert data.checksums(pg_db.url) == data.recorded(manifest)
    assert pg_db.query("SELECT nextval('customers_id_seq'), nextval('orders_id_seq')") == [(301, 601)]
    assert ("orders_placed_idx",) in pg_db.query(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'orders'"
    )
    apply = next(s for s in result.steps if s.name == "apply_restore")
    for table in data.TABLES:
        assert f"{table} from in-database copy {copy.schema}.{table}" in apply.detail
    assert (
        'INSERT INTO "public"."order_items" ("order_id", "line", "qty", "price") '
        f'SELECT "order_id", "line", "qty", "price" FROM "{copy.schema}"."order_items"'
    ) in apply.sql


@pytest.mark.postgres
def test_a_copy_missing_or_changed_is_not_used(pg_db: Any, tmp_path: Path) -> None:
    manifest = _snapshot(pg_db, tmp_path)
    assert manifest.db_copy is not None
    schema = manifest.db_copy.schema
    pg_db.execute(*data.PG_DAMAGE)
    # Someone edits one copy and drops another after the snapshot: restoring from them would be wrong.
    pg_db.execute(
        f"UPDATE \"{schema}\".orders SET note = 'edited' WHERE id = 7", f'DROP TABLE "{schema}".order_items'
    )

    result = data.approved_restore(pg_db.url, manifest, tmp_path)

    assert data.checksums(pg_db.url) == data.recorded(manifest)
    steps = {s.name: s for s in result.steps}
    assert f"copy {schema}.order_items is missing" in steps["verify_snapshot"].detail
    apply = steps["apply_restore"].detail
    assert f"customers from in-database copy {schema}.customers" in apply
    assert "orders from parquet 0001_orders.parquet" in apply
    assert "order_items from parquet 0002_order_items.parquet" in apply
    unused = {
        r.data["table"]: r.data["reason"]
        for r in AuditLog(tmp_path / "audit.jsonl").records()
        if r.event == "rollback.copy.unused"
    }
    assert unused.keys() == {"orders", "order_items"}
    assert (
        unused["orders"] == f"copy {schema}.orders changed since the snapshot (600 rows, fingerprint differs)"
    )


@pytest.mark.mariadb
def test_in_database_snapshot_is_postgres_only(mariadb_db: Any, tmp_path: Path) -> None:
    mariadb_db.execute(*data.MY_SCHEMA)
    with pytest.raises(BadInputError, match="PostgreSQL only, not mysql"):
        create_snapshot(mariadb_db.url, tables=data.TABLES, snapshot_dir=tmp_path / "s", in_database=True)
    assert not (tmp_path / "s").exists()


def _plain_fingerprint(pg_db: Any, relation: str) -> tuple[int, str]:
    """Row count and the sums of the signed 64-bit halves of each row's text MD5, computed here row by row."""
    import hashlib

    texts = [str(row[0]) for row in pg_db.query(f"SELECT t::text FROM {relation} t")]
    digests = [hashlib.md5(text.encode()).digest() for text in texts]
    sums = [sum(int.from_bytes(d[half : half + 8], "big", signed=True) for d in digests) for half in (0, 8)]
    return len(texts), f"{sums[0]}:{sums[1]}"


@pytest.mark.postgres
def test_copy_fingerprint_is_order_free_counts_repeats_and_matches_its_definition(
    pg_db: Any, tmp_path: Path
) -> None:
    from pm_pipeline.core.dialects import dialect_for
    from pm_pipeline.core.rollback.dbcopy import fingerprint_sql

    pg_db.execute(
        "CREATE TABLE t (id int PRIMARY KEY, name text, amount numeric(8,2), tags jsonb)",
        "INSERT INTO t SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'Zoë ' || g END, g / 8.0, "
        "jsonb_build_object('g', g) FROM generate_series(1, 2000) g",
        "CREATE TABLE reversed AS SELECT * FROM t ORDER BY id DESC",
        "CREATE TABLE repeated AS SELECT * FROM t WHERE id <> 2 UNION ALL SELECT * FROM t WHERE id = 1",
    )
    manifest = create_snapshot(pg_db.url, tables=["t"], snapshot_dir=tmp_path / "snap", in_database=True)
    assert manifest.db_copy is not None
    copy = f'"{manifest.db_copy.schema}"."t"'
    record = manifest.db_copy.tables["t"]

    def fingerprint(relation: str) -> tuple[int, str]:
        row = pg_db.query(fingerprint_sql(dialect_for("postgresql"), relation))[0]
        return int(str(row[0])), str(row[1])

    assert fingerprint(copy) == (record.rows, record.fingerprint) == _plain_fingerprint(pg_db, copy)
    assert fingerprint("reversed") == fingerprint("t") == fingerprint(copy)
    assert fingerprint("repeated")[0] == 2000 and fingerprint("repeated") != fingerprint("t")
    assert fingerprint("(SELECT * FROM t WHERE false)") == (0, "0:0")


@pytest.mark.postgres
def test_a_copy_recorded_with_an_earlier_fingerprint_is_not_used(pg_db: Any, tmp_path: Path) -> None:
    from dataclasses import replace

    from pm_pipeline.core.rollback.dbcopy import check_copies

    manifest = _snapshot(pg_db, tmp_path)
    copy = manifest.db_copy
    assert copy is not None
    earlier = replace(
        copy, tables={**copy.tables, "orders": replace(copy.tables["orders"], fingerprint="0" * 32)}
    )
    with connect(pg_db.url) as connector:
        assert check_copies(connector, copy, manifest.tables) == {}
        assert check_copies(connector, earlier, manifest.tables) == {
            "orders": f"copy {copy.schema}.orders is recorded with a fingerprint of an earlier version"
        }
