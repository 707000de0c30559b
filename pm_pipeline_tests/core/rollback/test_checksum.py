"""Rollback checksums agree with the integrity feature's definition and react to any changed value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core.connectors import connect
from pm_pipeline.core.integrity.checksum import table_checksum as integrity_checksum
from pm_pipeline.core.rollback.checksum import self_plan, table_checksum


def _sqlite(tmp_path: Path, *statements: str) -> str:
    import sqlite3

    path = tmp_path / "t.db"
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
    return f"sqlite:///{path}"


def test_same_checksum_as_integrity_feature(tmp_path: Path) -> None:
    url = _sqlite(
        tmp_path,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount NUMERIC(8,2), blob BLOB)",
        "INSERT INTO t VALUES (1, 'a', 1.50, x'00ff'), (2, NULL, NULL, NULL), (3, 'ü', -2, x'')",
    )
    with connect(url) as connector:
        mine = table_checksum(connector, "t")
        plan = self_plan(connector.introspect("t"))
        theirs = integrity_checksum(connector, table="t", plans=plan.all_plans, side="target")
    assert (mine.rows, mine.checksum) == (theirs.rows, theirs.checksum)


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE t SET name = 'b' WHERE id = 1",
        "UPDATE t SET score = 0.5000001 WHERE id = 1",  # floats count here, unlike in reconciliation
        "DELETE FROM t WHERE id = 2",
        "INSERT INTO t VALUES (2, NULL, NULL)",  # a duplicate row in a keyless table must show
    ],
)
def test_any_change_moves_the_checksum(tmp_path: Path, change: str) -> None:
    url = _sqlite(
        tmp_path,
        "CREATE TABLE t (id INTEGER, name TEXT, score REAL)",
        "INSERT INTO t VALUES (1, 'a', 0.5), (2, NULL, NULL)",
    )
    with connect(url) as connector:
        before = table_checksum(connector, "t")
    _sqlite(tmp_path, change)
    with connect(url) as connector:
        after: Any = table_checksum(connector, "t")
    assert after.checksum != before.checksum
