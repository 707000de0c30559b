"""The checksum manifest taken from the reconciliation's own pass: the bucket strategy's digests equal
one aggregate scan's, a manifest of them recomputes on each side alone (same engine and across
engines), a later change is caught, and digests that tolerance bins may rightly split are never
compared across sides."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pm_pipeline.core.config.integrity import IntegritySettings
from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.digest.rows import ALGORITHM
from pm_pipeline.core.digest.tablesum import ALGORITHM as SQL_ALGORITHM
from pm_pipeline.core.findings import Category, Severity
from pm_pipeline.core.integrity.check import check_table_integrity
from pm_pipeline.core.integrity.checksum import ManifestEntry, write_manifest
from pm_pipeline.core.integrity.verify import verify_manifest
from pm_pipeline.core.reconcile import ReconcileOptions, reconcile_table
from pm_pipeline_tests.conftest import MyDatabase, PgDatabase

ROWS = 600
PG_TABLE = (
    "CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2), seen timestamp, flag boolean)"
)
PG_ROWS = (
    f"INSERT INTO items SELECT g, 'item ' || g, g * 1.25, timestamp '2024-01-01' + g * interval '1 minute', "
    f"g % 2 = 0 FROM generate_series(1, {ROWS}) g"
)


def _entry(source_url: str, target_url: str, *, digests_from_reconciliation: bool) -> ManifestEntry:
    with connect(source_url) as source, connect(target_url) as target:
        mapping = TableMapping(source="items")
        schemas = source.introspect("items"), target.introspect("items")
        digests = None
        if digests_from_reconciliation:
            reconciled = reconcile_table(
                source=source,
                target=target,
                mapping=mapping,
                options=ReconcileOptions(strategy="bucket", bucket_rows=50),
                source_schema=schemas[0],
                target_schema=schemas[1],
            )
            assert reconciled.strategy == "bucket", reconciled.strategy_note
            assert reconciled.digests is not None
            digests = reconciled.digests
        result = check_table_integrity(
            source=source,
            target=target,
            mapping=mapping,
            settings=IntegritySettings(),
            source_schema=schemas[0],
            target_schema=schemas[1],
            digests=digests,
        )
    assert result.manifest_entry is not None
    return result.manifest_entry


@pytest.mark.postgres
def test_bucket_digests_equal_one_scan_and_recompute_until_a_row_changes(
    pg_db: PgDatabase, pg_db2: PgDatabase, tmp_path: Path
) -> None:
    pg_db.execute(PG_TABLE, PG_ROWS)
    pg_db2.execute(PG_TABLE, PG_ROWS, "UPDATE items SET price = price + 1 WHERE id = 17")
    from_buckets = _entry(pg_db.url, pg_db2.url, digests_from_reconciliation=True)
    from_scan = _entry(pg_db.url, pg_db2.url, digests_from_reconciliation=False)
    assert from_buckets == from_scan
    assert from_buckets.source.algorithm == SQL_ALGORITHM and from_buckets.source.rows == ROWS
    # the changed row: both sides are comparable (no tolerance bins) and differ
    assert from_buckets.comparable and not from_buckets.matches

    manifest = tmp_path / "manifest.json"
    write_manifest(str(manifest), entries=[from_buckets])
    assert json.loads(manifest.read_text())["tables"][0]["source"]["recipe"]["dialect"] == "postgresql"
    assert verify_manifest(str(manifest)) == []
    pg_db.execute("UPDATE items SET name = 'renamed' WHERE id = 300")
    moved = verify_manifest(str(manifest))
    assert [(f.category, f.rule) for f in moved] == [(Category.CHECKSUM_MISMATCH, "manifest source")]


@pytest.mark.postgres
@pytest.mark.mariadb
def test_digests_across_engines_match_and_recompute_on_each_side(
    mariadb_db: MyDatabase, pg_db: PgDatabase, tmp_path: Path
) -> None:
    mariadb_db.execute(
        "CREATE TABLE items (id int PRIMARY KEY, name varchar(40), price decimal(8,2), seen datetime, "
        "flag tinyint(1))",
        "INSERT INTO items SELECT seq, CONCAT('item ', seq), seq * 1.25, "
        "TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq MINUTE, seq % 2 = 0 FROM seq_1_to_600",
    )
    pg_db.execute(PG_TABLE, PG_ROWS)
    entry = _entry(mariadb_db.url, pg_db.url, digests_from_reconciliation=True)
    # canonical text hashed the same way in both engines: equal tables, equal digests
    assert entry.comparable and entry.matches, entry
    manifest = tmp_path / "manifest.json"
    write_manifest(str(manifest), entries=[entry])
    assert verify_manifest(str(manifest)) == []
    pg_db.execute("DELETE FROM items WHERE id = 5")
    assert [f.rule for f in verify_manifest(str(manifest))] == ["manifest target"]


def _bin_edge() -> float:
    # The float bin edge nearest 1.0 for the default relative tolerance 1e-9 (reconcile.bucket):
    # k = floor(x / (tolerance / 2) + 0.381966...); values on both sides of it are 2e-13 apart.
    width = 1e-9 / 2
    return (2_000_000_001 - 0.3819660112501051) * width


@pytest.mark.postgres
def test_a_float_within_tolerance_across_a_bin_edge_is_no_checksum_finding(
    pg_db: PgDatabase, pg_db2: PgDatabase
) -> None:
    edge = _bin_edge()
    for database, value in ((pg_db, edge - 1e-13), (pg_db2, edge + 1e-13)):
        database.execute(
            "CREATE TABLE items (id int PRIMARY KEY, ratio double precision)",
            f"INSERT INTO items SELECT g, {value!r} FROM generate_series(1, 50) g",
        )
    entry = _entry(pg_db.url, pg_db2.url, digests_from_reconciliation=True)
    # the bins differ, so the digests do: each still guards its own side, but they are not compared
    assert not entry.matches
    assert not entry.comparable
    with connect(pg_db.url) as source, connect(pg_db2.url) as target:
        result = check_table_integrity(
            source=source,
            target=target,
            mapping=TableMapping(source="items"),
            settings=IntegritySettings(),
            source_schema=source.introspect("items"),
            target_schema=target.introspect("items"),
        )
    assert not [f for f in result.findings if f.severity is not Severity.INFO]


def test_sqlite_keeps_the_canonical_row_checksum_and_a_version_1_manifest_still_verifies(
    tmp_path: Path,
) -> None:
    urls = []
    for name in ("s.db", "t.db"):
        with sqlite3.connect(tmp_path / name) as db:
            db.execute("CREATE TABLE items (id integer PRIMARY KEY, name text)")
            db.executemany("INSERT INTO items VALUES (?, ?)", [(i, f"n{i}") for i in range(1, 30)])
        urls.append(f"sqlite:///{tmp_path / name}")
    entry = _entry(urls[0], urls[1], digests_from_reconciliation=False)
    assert entry.source.algorithm == ALGORITHM and entry.comparable and entry.matches
    manifest = tmp_path / "manifest.json"
    write_manifest(str(manifest), entries=[entry])
    document = json.loads(manifest.read_text())
    # as an earlier version wrote it: no per-side algorithm
    document["manifest_version"] = "1"
    for side in ("source", "target"):
        del document["tables"][0][side]["algorithm"]
    manifest.write_text(json.dumps(document))
    assert verify_manifest(str(manifest)) == []
    with sqlite3.connect(tmp_path / "t.db") as db:
        db.execute("UPDATE items SET name = 'x' WHERE id = 3")
    assert [f.rule for f in verify_manifest(str(manifest))] == ["manifest target"]
