"""The changes a rollback would destroy, counted and exported table by table, checked against SQL."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pm_pipeline.core.rollback import assess_risk, build_plan, create_snapshot

ROWS = 70_000  # more than one Parquet batch (65,536 rows) of the snapshot file

DAMAGE = [
    "DELETE FROM t WHERE id % 1000 = 0",
    "UPDATE t SET name = 'changed ' || id WHERE id % 997 = 1",
    "UPDATE t SET amount = amount WHERE id % 991 = 2",  # rewritten, not changed
    f"INSERT INTO t SELECT {ROWS} + g, 'new', g * 1.5, TIMESTAMP '2025-01-01' FROM range(1, 26) r(g)",
    "INSERT INTO t SELECT * FROM t WHERE id % 5000 = 3",  # a second copy (keyless only)
]


def _duckdb(path: Path, *statements: str) -> list[tuple[object, ...]]:
    import duckdb

    rows: list[tuple[object, ...]] = []
    with duckdb.connect(str(path)) as conn:
        for statement in statements:
            rows = conn.execute(statement).fetchall()
    return rows


@pytest.mark.parametrize("key", ["PRIMARY KEY (id)", ""])
def test_changes_match_what_sql_finds(tmp_path: Path, key: str) -> None:
    pytest.importorskip("duckdb")
    path = tmp_path / "t.duckdb"
    url = f"duckdb:///{path}"
    _duckdb(
        path,
        f"CREATE TABLE t (id BIGINT, name VARCHAR, amount DECIMAL(12,2), stamp TIMESTAMP{', ' + key if key else ''})",
        f"INSERT INTO t SELECT g, 'n' || g, g / 4, TIMESTAMP '2024-01-01' + g * INTERVAL 1 MINUTE "
        f"FROM range(1, {ROWS + 1}) r(g)",
    )
    manifest = create_snapshot(url, tables=["t"], snapshot_dir=tmp_path / "snap")
    _duckdb(path, "CREATE TABLE snap AS SELECT * FROM t")
    _duckdb(path, *(DAMAGE if not key else DAMAGE[:-1]))
    if key:
        (inserted, updated, deleted), *_ = _duckdb(
            path,
            "SELECT count(*) FILTER (WHERE s.id IS NULL), "
            "count(*) FILTER (WHERE s.id IS NOT NULL AND (t.name, t.amount, t.stamp) IS DISTINCT FROM "
            "(s.name, s.amount, s.stamp)), (SELECT count(*) FROM snap WHERE id NOT IN (SELECT id FROM t)) "
            "FROM t LEFT JOIN snap s USING (id)",
        )
    else:
        ((inserted,),) = _duckdb(path, "SELECT count(*) FROM (SELECT * FROM t EXCEPT ALL SELECT * FROM snap)")
        ((deleted,),) = _duckdb(path, "SELECT count(*) FROM (SELECT * FROM snap EXCEPT ALL SELECT * FROM t)")
        updated = 0
    expected_rows = sorted(
        _duckdb(path, "SELECT id, name FROM t EXCEPT ALL SELECT id, name FROM snap ORDER BY ALL")
        if not key
        else _duckdb(path, "SELECT id, name FROM (SELECT * FROM t EXCEPT SELECT * FROM snap) ORDER BY ALL")
    )
    assert inserted and deleted and (updated or not key)

    plan = build_plan(manifest.directory, target_url=url)
    risk = assess_risk(plan, export_dir=tmp_path / "x")

    (changes,) = risk.tables
    assert (changes.inserted, changes.updated, changes.deleted) == (inserted, updated, deleted)
    ((current,),) = _duckdb(path, "SELECT count(*) FROM t")
    assert (changes.snapshot_rows, changes.current_rows) == (ROWS, current)
    assert changes.export_file is not None
    assert Path(changes.export_file).name.startswith("t.changed.")
    exported = pq.read_table(changes.export_file)
    assert sorted(
        zip(exported.column("id").to_pylist(), exported.column("name").to_pylist(), strict=True)
    ) == [tuple(row) for row in expected_rows]
    summary = json.loads((tmp_path / "x" / "changes.json").read_text())
    assert summary["tables"][0]["export_file"] == changes.export_file
    assert summary["plan_checksum"] == plan.checksum


def test_an_unchanged_table_exports_nothing(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "t.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    manifest = create_snapshot(f"sqlite:///{path}", tables=["t"], snapshot_dir=tmp_path / "snap")
    risk = assess_risk(
        build_plan(manifest.directory, target_url=f"sqlite:///{path}"), export_dir=tmp_path / "x"
    )
    (changes,) = risk.tables
    assert (changes.changed, changes.export_file, risk.level) == (0, None, "low")
    assert not list((tmp_path / "x").glob("*.parquet"))
