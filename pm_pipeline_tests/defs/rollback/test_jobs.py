"""The rollback job of ops: its graph follows the FK order, a dry run writes nothing, a real run restores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pm_pipeline.core.config.spec import MigrationSpec
from pm_pipeline.core.rollback import approve, build_plan, create_snapshot
from pm_pipeline.defs.rollback import build_rollback_job
from pm_pipeline_tests.core.rollback import data

pytestmark = pytest.mark.postgres

SCHEMA = [
    "CREATE TABLE parent (id serial PRIMARY KEY, name text)",
    "CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent(id), v numeric(6,2))",
    "INSERT INTO parent (name) SELECT 'p' || g FROM generate_series(1, 50) g",
    "INSERT INTO child SELECT g, 1 + g % 50, g / 4.0 FROM generate_series(1, 200) g",
]
DAMAGE = ["DELETE FROM child WHERE id > 150", "UPDATE parent SET name = 'x' WHERE id < 5"]


def _checksums(url: str) -> dict[str, str]:
    return data.checksum_values(url, ("parent", "child"))


def _config(dry_run: bool) -> dg.RunConfig:
    return dg.RunConfig(resources={"rollback": {"config": {"dry_run": dry_run, "actor": "test"}}})


def test_job_graph_dry_run_and_real_run(pg_db: Any, tmp_path: Path) -> None:
    pg_db.execute(*SCHEMA)
    manifest = create_snapshot(pg_db.url, tables=["child", "parent"], snapshot_dir=tmp_path / "snap")
    snapshot = _checksums(pg_db.url)
    pg_db.execute(*DAMAGE)
    damaged = _checksums(pg_db.url)
    plan = build_plan(manifest.directory, target_url=pg_db.url)
    audit = tmp_path / "audit.jsonl"
    job = build_rollback_job(plan, audit_log=audit, export_dir=tmp_path / "exports")
    deps = job.graph.dependencies
    upstream_of_child = {d.node for d in deps[dg.NodeInvocation("stage_child")].values()}  # type: ignore[union-attr]
    assert upstream_of_child == {"stage_parent"}
    last = {d.node for d in deps[dg.NodeInvocation("reconcile")].values()}  # type: ignore[union-attr]
    assert last == {"verify_restore"}

    dry = job.execute_in_process(run_config=_config(True))
    assert dry.success
    assert _checksums(pg_db.url) == damaged
    apply_events = [e for e in dry.events_for_node("apply_restore") if e.event_type_value == "STEP_OUTPUT"]
    sql = apply_events[0].event_specific_data.metadata["sql"].value  # type: ignore[union-attr]
    assert 'DELETE FROM "child"' in sql

    refused = job.execute_in_process(run_config=_config(False), raise_on_error=False)
    assert not refused.success
    assert _checksums(pg_db.url) == damaged

    approve(plan, approver="alice", audit_log=audit)
    approve(plan, approver="bob", audit_log=audit)
    real = job.execute_in_process(run_config=_config(False))
    assert real.success
    assert _checksums(pg_db.url) == snapshot


def test_job_from_spec_uses_latest_snapshot(pg_db: Any, tmp_path: Path) -> None:
    pg_db.execute(*SCHEMA)
    create_snapshot(pg_db.url, tables=["parent", "child"], snapshot_dir=tmp_path / "snap")
    spec = MigrationSpec.model_validate(
        {
            "source": {"url": pg_db.url},
            "target": {"url": pg_db.url},
            "tables": [{"source": "parent"}, {"source": "child"}],
            "rollback": {
                "snapshot_dir": str(tmp_path / "snap"),
                "audit_log": str(tmp_path / "a.jsonl"),
                "freeze_writes_sql": "SELECT 1",
            },
        }
    )
    job = build_rollback_job(spec)
    deps = job.graph.dependencies
    first = {d.node for d in deps[dg.NodeInvocation("verify_snapshot")].values()}  # type: ignore[union-attr]
    assert first == {"freeze_writes"}
    assert job.execute_in_process(run_config=_config(True)).success


def test_definitions_without_a_snapshot_load_and_a_corrupted_manifest_is_named(tmp_path: Path) -> None:
    import sqlite3

    import yaml

    from pm_pipeline.core.errors import IntegrityRefusal
    from pm_pipeline.definitions import build_definitions

    database = tmp_path / "t.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO parent VALUES (1, 'a')")
    url = f"sqlite:///{database}"
    spec_path = tmp_path / "spec.yaml"
    snapshots = tmp_path / "snap"
    spec_path.write_text(
        yaml.safe_dump(
            {
                "source": {"url": url},
                "target": {"url": url},
                "tables": [{"source": "parent"}],
                "rollback": {"snapshot_dir": str(snapshots), "audit_log": str(tmp_path / "a.jsonl")},
            }
        )
    )
    jobs = {job.name for job in build_definitions(spec_path).jobs or []}
    assert "pm_rollback" not in jobs  # nothing to roll back to yet

    manifest = create_snapshot(url, tables=["parent"], snapshot_dir=snapshots)
    assert "pm_rollback" in {job.name for job in build_definitions(spec_path).jobs or []}

    manifest_file = Path(manifest.directory) / "manifest.json"
    manifest_file.write_text(manifest_file.read_text()[:-40])
    with pytest.raises(
        IntegrityRefusal, match=rf"{Path(manifest.directory).name}: its manifest is unreadable"
    ):
        build_definitions(spec_path)
    manifest_file.write_text("[1, 2]")
    with pytest.raises(IntegrityRefusal, match="not a JSON object"):
        build_definitions(spec_path)


def test_job_from_spec_keeps_the_spec_audit_settings(
    pg_db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A custom key variable and anchor file: the job's records must be keyed and anchored as the
    # CLI's are, or the next `pm-pipeline rollback` would find the log's head unanchored.
    monkeypatch.setenv("TEAM_AUDIT_KEY", "t" * 32)
    monkeypatch.delenv("PM_AUDIT_KEY", raising=False)
    pg_db.execute(*SCHEMA)
    create_snapshot(pg_db.url, tables=["parent", "child"], snapshot_dir=tmp_path / "snap")
    log, anchor = tmp_path / "audit" / "team.jsonl", tmp_path / "anchors" / "team.json"
    spec = MigrationSpec.model_validate(
        {
            "source": {"url": pg_db.url},
            "target": {"url": pg_db.url},
            "tables": [{"source": "parent"}, {"source": "child"}],
            "rollback": {"snapshot_dir": str(tmp_path / "snap")},
            "audit": {"log": str(log), "key_env": "TEAM_AUDIT_KEY", "anchor_file": str(anchor)},
        }
    )
    job = build_rollback_job(spec)
    assert job.execute_in_process(run_config=_config(True)).success
    from pm_pipeline.core.security.audit import AuditConfig, AuditLog

    records = list(AuditLog(log).records())
    assert (
        records
        and {r.mac for r in records} == {"hmac-sha256"}
        and {r.origin for r in records} == {"dagster:ui"}
    )
    verified = AuditLog(log, config=AuditConfig(key_env="TEAM_AUDIT_KEY", anchor_file=str(anchor))).verify()
    assert verified.ok and verified.keyed and verified.records == len(records)
