"""Table checksums the databases compute themselves (pm-row-sql-1): equal across PostgreSQL and
MariaDB for a correct migration, equal to the documented definition, moved by one changed value,
recomputed by verify-manifest; SQLite falls back to pm-row-json-1 on both sides."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.integrity import verify_manifest, write_manifest
from pm_pipeline.core.integrity.checksum import (
    CANONICALIZATION,
    ManifestEntry,
    TableChecksum,
    checksummed,
    pair_checksums,
)
from pm_pipeline.core.integrity.sqlchecksum import CANONICALIZATION_SQL
from pm_pipeline.core.reconcile.planning import plan_table
from pm_pipeline_tests.conftest import PgDatabase

PG = (
    "CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2), born date, "
    "seen timestamp, active boolean)",
    "INSERT INTO items VALUES (1, 'plain', 1.50, '2024-01-02', '2024-01-02 03:04:05.25', true), "
    "(2, 'it''s \"q\" é 😀', -0.10, NULL, NULL, false), (3, NULL, NULL, '1999-12-31', "
    "'2000-01-01 00:00:00', NULL)",
)
# The same rows as a correct load into MariaDB writes them: tinyint(1) flags, datetime(6).
MARIADB = (
    "CREATE TABLE items (id int PRIMARY KEY, name varchar(40), price decimal(8,2), born date, "
    "seen datetime(6), active tinyint(1))",
    "INSERT INTO items VALUES (1, 'plain', 1.50, '2024-01-02', '2024-01-02 03:04:05.25', 1), "
    "(2, 'it''s \"q\" é 😀', -0.10, NULL, NULL, 0), (3, NULL, NULL, '1999-12-31', "
    "'2000-01-01 00:00:00', NULL)",
)


def _pair(source_url: str, target_url: str) -> tuple[TableChecksum, TableChecksum]:
    with connect(source_url) as source, connect(target_url) as target:
        plan = plan_table(
            mapping=TableMapping(source="items"),
            source=source.introspect("items"),
            target=target.introspect("items"),
            source_zone="UTC",
            target_zone="UTC",
        )
        kept, _ = checksummed(plan.all_plans)
        return pair_checksums(source, target, tables=("items", "items"), plans=kept)


@pytest.mark.postgres
@pytest.mark.mariadb
def test_a_correct_migration_checksums_equal_in_both_databases(pg_db: PgDatabase, mariadb_db: Any) -> None:
    pg_db.execute(*PG)
    mariadb_db.execute(*MARIADB)
    source, target = _pair(pg_db.url, mariadb_db.url)
    assert source.canonicalization == target.canonicalization == CANONICALIZATION_SQL
    assert (source.rows, source.checksum) == (target.rows, target.checksum) == (3, source.checksum)
    mariadb_db.execute("UPDATE items SET price = 1.51 WHERE id = 1")
    assert _pair(pg_db.url, mariadb_db.url)[1].checksum != source.checksum


def _documented(rows: list[list[str | None]]) -> str:
    """pm-row-sql-1 as docs/readme/integrity.md defines it, from canonical texts."""
    total = 0
    for texts in rows:
        line = "".join("N" if t is None else f"{len(t)}:{t}" for t in texts)
        total += int.from_bytes(hashlib.sha256(line.encode("utf-8")).digest(), "big")
    return f"{total % 2**256:064x}"


@pytest.mark.postgres
def test_the_documented_definition_recomputes_it(pg_db: PgDatabase, pg_db2: PgDatabase) -> None:
    pg_db.execute(*PG)
    pg_db2.execute(*PG)
    source, _ = _pair(pg_db.url, pg_db2.url)
    # canonical texts: decimals normalised, instants as microseconds since the epoch (UTC)
    assert source.checksum == _documented(
        [
            ["1", "plain", "1.5", "2024-01-02", "1704164645250000", "true"],
            ["2", 'it\'s "q" é 😀', "-0.1", None, None, "false"],
            ["3", None, None, "1999-12-31", "946684800000000", None],
        ]
    )


@pytest.mark.postgres
def test_verify_manifest_recomputes_it_in_the_database(
    pg_db: PgDatabase, pg_db2: PgDatabase, tmp_path: Path
) -> None:
    pg_db.execute(*PG)
    pg_db2.execute(*PG)
    source, target = _pair(pg_db.url, pg_db2.url)
    path = write_manifest(str(tmp_path / "m.json"), entries=[ManifestEntry("items", source, target)])
    document = json.loads(Path(path).read_text())
    assert document["manifest_version"] == "2"
    assert document["tables"][0]["target"]["canonicalization"] == CANONICALIZATION_SQL
    assert verify_manifest(path) == []
    pg_db2.execute("UPDATE items SET name = 'changed' WHERE id = 3")
    assert [(f.table, f.rule) for f in verify_manifest(path)] == [("items", "manifest target")]


def test_sqlite_falls_back_to_arrow_rows_on_both_sides(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO items VALUES (1, 'a'), (2, NULL)")
    source, target = _pair(f"sqlite:///{path}", f"sqlite:///{path}")
    assert source.canonicalization == target.canonicalization == CANONICALIZATION
    assert source.checksum == target.checksum and source.rows == 2
