"""Both sides of a table checksummed at once (server databases on two threads, SQLite one after the
other) give exactly the checksums each side gives alone."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.integrity.checksum import checksummed, pair_checksums, table_checksum
from pm_pipeline.core.reconcile.planning import plan_table
from pm_pipeline_tests.conftest import PgDatabase

TABLE = "CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2))"
ROWS = "INSERT INTO items VALUES (1, 'a', 1.50), (2, NULL, -0.10), (3, 'c', NULL)"


def _both_ways(source_url: str, target_url: str) -> None:
    with connect(source_url) as source, connect(target_url) as target:
        plan = plan_table(
            mapping=TableMapping(source="items"),
            source=source.introspect("items"),
            target=target.introspect("items"),
            source_zone="UTC",
            target_zone="UTC",
        )
        kept, _ = checksummed(plan.all_plans)
        together = pair_checksums(source, target, tables=("items", "items"), plans=kept)
        alone = (
            table_checksum(source, table="items", plans=kept, side="source"),
            table_checksum(target, table="items", plans=kept, side="target"),
        )
    assert together == alone
    assert together[0].rows == 3


@pytest.mark.postgres
def test_postgres_sides_at_once(pg_db: PgDatabase, pg_db2: PgDatabase) -> None:
    pg_db.execute(TABLE, ROWS)
    # a target that lost a row's value: each side still gets its own checksum, in its own slot
    pg_db2.execute(TABLE, ROWS, "UPDATE items SET name = NULL WHERE id = 1")
    _both_ways(pg_db.url, pg_db2.url)


def test_sqlite_sides_one_after_the_other(tmp_path: Path) -> None:
    for name in ("s.db", "t.db"):
        with sqlite3.connect(tmp_path / name) as db:
            db.execute(TABLE)
            db.execute(ROWS)
    _both_ways(f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 't.db'}")
