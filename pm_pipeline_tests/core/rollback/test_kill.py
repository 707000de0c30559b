"""A restore killed with SIGKILL at any point leaves the target as it was, or fully restored (PostgreSQL, MariaDB)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core.rollback import create_snapshot, execute_plan

from . import data

# A real process killed mid-restore at every point, then the restore run again: over 20 s each.
pytestmark = pytest.mark.long

# Stops at the named point of the restore, after writing the marker file, until killed.
CHILD = """
import sys, time
from pathlib import Path
from pm_pipeline.core.rollback import build_plan, execute_plan
snapshot, url, audit, exports, point, marker = sys.argv[1:7]

def pause(name):
    if name == point:
        Path(marker).write_text(name)
        time.sleep(60)

plan = build_plan(snapshot, target_url=url)
execute_plan(plan, audit_log=audit, export_dir=exports, dry_run=False, pause=pause)
"""

# PostgreSQL (one transaction): before it, after emptying a child, half way through loading, just
# before and just after COMMIT: the points where a partial restore would show if it were not atomic.
PG_POINTS = ["begin", "empty:orders", "load:customers", "load:orders", "commit", "committed"]
# MariaDB (shadow tables): leftovers of the last kill dropped, shadows half loaded, shadows verified,
# just before the RENAME, right after it (old tables not dropped yet), and at the end.
MY_POINTS = ["begin", "load:customers", "load:orders", "verified", "swap", "swapped", "committed"]
# From an in-database copy only the loading differs (INSERT ... SELECT in the same transaction).
PG_COPY_POINTS = ["load:customers", "commit", "committed"]
RESTORED_AT = {"swapped", "committed"}


def _kill_at(point: str, plan_args: list[str], tmp_path: Path) -> None:
    marker = tmp_path / f"reached-{point.replace(':', '_')}"
    child = subprocess.Popen([sys.executable, "-c", CHILD, *plan_args, point, str(marker)], cwd=Path.cwd())
    deadline = time.monotonic() + 60
    while not marker.exists():
        if child.poll() is not None:
            pytest.fail(f"restore ended (exit {child.returncode}) before reaching {point}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"restore never reached {point}")
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)


def _run_kills(
    db: Any, damage: list[str], points: list[str], tmp_path: Path, *, in_database: bool = False
) -> None:
    manifest = create_snapshot(
        db.url, tables=data.TABLES, snapshot_dir=tmp_path / "snap", in_database=in_database
    )
    restored = data.recorded(manifest)
    plan, audit = data.approved_plan(db.url, manifest, tmp_path)
    args = [manifest.directory, db.url, str(audit), str(tmp_path / "exports")]
    for point in points:
        db.execute(*damage)
        damaged = data.checksums(db.url)
        assert damaged != restored
        _kill_at(point, args, tmp_path)
        after = data.checksums(db.url)
        assert after == (restored if point in RESTORED_AT else damaged), f"killed at {point}"
        if point != "committed":
            # Recover the way an operator would: run the same approved plan again.
            execute_plan(plan, audit_log=audit, export_dir=tmp_path / "exports", dry_run=False)
        assert data.checksums(db.url) == restored


@pytest.mark.postgres
def test_kill_during_postgres_restore(pg_db: Any, tmp_path: Path) -> None:
    pg_db.execute(*data.PG_SCHEMA)
    _run_kills(pg_db, data.PG_DAMAGE, PG_POINTS, tmp_path)


@pytest.mark.postgres
def test_kill_during_postgres_restore_from_in_database_copy(pg_db: Any, tmp_path: Path) -> None:
    pg_db.execute(*data.PG_SCHEMA)
    _run_kills(pg_db, data.PG_DAMAGE, PG_COPY_POINTS, tmp_path, in_database=True)


@pytest.mark.mariadb
def test_kill_during_mariadb_shadow_swap(mariadb_db: Any, tmp_path: Path) -> None:
    mariadb_db.execute(*data.MY_SCHEMA)
    _run_kills(mariadb_db, data.MY_DAMAGE, MY_POINTS, tmp_path)
    # The last run cleaned up what the kills left; the restored children reference the restored parents.
    assert data.helper_databases(mariadb_db) == []
    assert data.foreign_keys(mariadb_db) == data.MY_FOREIGN_KEYS
