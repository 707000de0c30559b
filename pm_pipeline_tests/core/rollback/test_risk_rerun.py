"""A rerun of the risk assessment never overwrites the summary of an earlier export."""

from __future__ import annotations

import json
from pathlib import Path

from pm_pipeline.core.rollback import assess_risk, build_plan, create_snapshot


def _duckdb(path: Path, *statements: str) -> None:
    import duckdb

    with duckdb.connect(str(path)) as conn:
        for statement in statements:
            conn.execute(statement)


def test_a_rerun_after_the_restore_keeps_the_summary_of_the_rows_first_exported(tmp_path: Path) -> None:
    # Seen in a real rerun: the restore had put the snapshot back, the rerun found nothing to
    # export, and its summary of zeros replaced the one listing the rows saved before the restore.
    path = tmp_path / "t.duckdb"
    url = f"duckdb:///{path}"
    _duckdb(
        path,
        "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR)",
        "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
    )
    manifest = create_snapshot(url, tables=["t"], snapshot_dir=tmp_path / "snap")
    _duckdb(path, "UPDATE t SET name = 'changed' WHERE id = 2")
    plan = build_plan(manifest.directory, target_url=url)
    exports = tmp_path / "exports"
    first = assess_risk(plan, export_dir=exports)
    assert first.changed_rows == 1
    first_summary = (exports / "changes.json").read_text()
    _duckdb(path, "UPDATE t SET name = 'b' WHERE id = 2")  # as the restore leaves it
    second = assess_risk(plan, export_dir=exports)
    assert second.changed_rows == 0
    dated = sorted(exports.glob("changes.*.json"))
    assert len(dated) == 2
    assert dated[0].read_text() == first_summary  # kept as written
    assert json.loads(dated[0].read_text())["tables"][0]["updated"] == 1
    # changes.json names the newest summary, for the steps that read it.
    assert json.loads((exports / "changes.json").read_text())["tables"][0]["updated"] == 0
    assert (exports / "changes.json").resolve() == dated[1].resolve()
