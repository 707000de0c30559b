"""Every guard stops a restore before its first write, on real PostgreSQL and MariaDB.

"Before any write" is checked on the data (canonical checksums unchanged) and, on MariaDB, by the
absence of the shadow databases a restore creates first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core.errors import BadInputError, IntegrityRefusal
from pm_pipeline.core.rollback import (
    Manifest,
    RollbackPlan,
    approve,
    build_plan,
    create_snapshot,
    execute_plan,
    run_step,
    verify_snapshot,
)

from . import data


@dataclass(frozen=True)
class Target:
    db: Any
    engine: str

    def untouched_by(self, run: Any) -> None:
        before = data.checksums(self.db.url)
        run()
        assert data.checksums(self.db.url) == before
        if self.engine == "mariadb":
            assert data.helper_databases(self.db) == []

    def refuses_to_execute(self, plan: RollbackPlan, audit: Path, tmp_path: Path, match: str) -> None:
        """Executing ``plan`` for real is refused with an error matching ``match``, before any write."""

        def run() -> None:
            with pytest.raises(IntegrityRefusal, match=match):
                execute_plan(plan, audit_log=audit, export_dir=tmp_path / "x", dry_run=False)

        self.untouched_by(run)


@pytest.fixture(
    params=[
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def target(request: pytest.FixtureRequest) -> Target:
    engine = str(request.param)
    db = request.getfixturevalue("pg_db" if engine == "postgres" else "mariadb_db")
    return Target(db, engine)


def _damaged(target: Target, tmp_path: Path, tables: list[str] = data.TABLES) -> Manifest:
    postgres = target.engine == "postgres"
    target.db.execute(*(data.PG_SCHEMA if postgres else data.MY_SCHEMA))
    manifest = create_snapshot(target.db.url, tables=tables, snapshot_dir=tmp_path / "snap")
    target.db.execute(*(data.PG_DAMAGE if postgres else data.MY_DAMAGE))
    return manifest


def test_unapproved_run_stops_before_any_write(target: Target, tmp_path: Path) -> None:
    manifest = _damaged(target, tmp_path)
    plan, audit = data.approved_plan(target.db.url, manifest, tmp_path, approvers=("alice",))
    target.refuses_to_execute(plan, audit, tmp_path, match="1 approval")


def test_approvals_of_another_plan_or_the_same_person_do_not_count(target: Target, tmp_path: Path) -> None:
    manifest = _damaged(target, tmp_path)
    plan = build_plan(manifest.directory, target_url=target.db.url)
    other = build_plan(manifest.directory, target_url=target.db.url, approvals_required=3)
    assert other.checksum != plan.checksum
    audit = tmp_path / "audit.jsonl"
    approve(other, approver="alice", audit_log=audit)
    approve(other, approver="bob", audit_log=audit)
    approve(plan, approver="alice", audit_log=audit)
    with pytest.raises(BadInputError, match="already approved"):
        approve(plan, approver="alice", audit_log=audit)
    target.refuses_to_execute(plan, audit, tmp_path, match="approval")


def test_corrupted_snapshot_is_detected_before_any_write(target: Target, tmp_path: Path) -> None:
    manifest = _damaged(target, tmp_path)
    plan, audit = data.approved_plan(target.db.url, manifest, tmp_path)
    data.corrupt(Path(manifest.directory) / manifest.table("orders").file)
    with pytest.raises(IntegrityRefusal, match="orders"):
        verify_snapshot(manifest.directory)
    target.refuses_to_execute(plan, audit, tmp_path, match="modified")


def test_tampered_audit_log_blocks_the_restore(target: Target, tmp_path: Path) -> None:
    manifest = _damaged(target, tmp_path)
    plan, audit = data.approved_plan(target.db.url, manifest, tmp_path)
    audit.write_text(audit.read_text().replace('"bob"', '"mallory"'))
    target.refuses_to_execute(plan, audit, tmp_path, match="audit log")


def test_apply_step_run_alone_checks_its_own_guards(target: Target, tmp_path: Path) -> None:
    # A caller that skips check_approvals (a Dagster re-execution of one op) must still be stopped.
    manifest = _damaged(target, tmp_path)
    plan, audit = data.approved_plan(target.db.url, manifest, tmp_path, approvers=("alice",))

    def run() -> None:
        with pytest.raises(IntegrityRefusal, match="1 approval"):
            run_step(
                plan, plan.step("apply_restore"), audit_log=audit, export_dir=tmp_path / "x", dry_run=False
            )

    target.untouched_by(run)


def test_a_table_outside_the_snapshot_that_references_it_is_refused_before_any_write(
    target: Target, tmp_path: Path
) -> None:
    # order_items references orders but is not snapshotted: emptying orders would break its rows.
    manifest = _damaged(target, tmp_path, tables=["customers", "orders"])
    plan, audit = data.approved_plan(
        target.db.url, manifest, tmp_path, approvers=("alice",), approvals_required=1
    )
    target.refuses_to_execute(
        plan, audit, tmp_path, match=r"order_items.*-> orders.*Snapshot and restore order_items"
    )


def test_apply_and_stage_steps_run_alone_refuse_a_modified_file(target: Target, tmp_path: Path) -> None:
    # The apply step's own guard compares each file's SHA-256 with its manifest, before any write.
    manifest = _damaged(target, tmp_path)
    plan, audit = data.approved_plan(
        target.db.url, manifest, tmp_path, approvers=("alice",), approvals_required=1
    )
    data.corrupt(Path(manifest.directory) / manifest.table("orders").file)

    def run() -> None:
        for step in ("apply_restore", "stage_orders"):
            with pytest.raises(IntegrityRefusal, match=r"table orders was modified \(SHA-256 differs\)"):
                run_step(plan, plan.step(step), audit_log=audit, export_dir=tmp_path / "x", dry_run=False)

    target.untouched_by(run)
    assert not (tmp_path / "x").exists()  # refused before the last export, too


def test_a_snapshot_never_marked_verified_is_verified_in_full_before_writing(tmp_path: Path) -> None:
    import json
    import sqlite3

    path, url, manifest = data.sqlite_changed_since_snapshot(tmp_path)
    # The file is unchanged, but the manifest's checksum was never confirmed against it.
    document = Path(manifest.directory) / "manifest.json"
    content = json.loads(document.read_text())
    content["verified"] = False
    content["tables"][0]["checksum"] = "0" * 64
    document.write_text(json.dumps(content))
    plan, audit = data.approved_plan(url, manifest, tmp_path, approvers=("alice",), approvals_required=1)
    with pytest.raises(IntegrityRefusal, match="table t re-read as 2 rows"):
        run_step(
            plan,
            plan.step("apply_restore"),
            audit_log=audit,
            export_dir=tmp_path / "x",
            dry_run=False,
        )
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM t WHERE id = 2").fetchall() == [("changed",)]
