"""`pm-pipeline rollback`: snapshot, damage, plan, approve, execute and status end to end on real
PostgreSQL and MariaDB; refusals that leave the target untouched; precise errors for bad input."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from pm_pipeline.cli import main
from pm_pipeline.core.rollback import load_manifest
from pm_pipeline_tests.core.rollback import data


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _subprocess(cwd: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pm_pipeline.cli", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def write_rollback_spec(
    tmp_path: Path, url: str, tables: list[str], *, approvals: int = 2, **settings: Any
) -> Path:
    """A spec whose target is ``url``, with snapshots and the audit log under ``tmp_path`` (shared with the webserver test)."""
    spec = tmp_path / "migration.yaml"
    document = {
        "version": 1,
        "name": "rollback-cli",
        "source": {"url": url},
        "target": {"url": url},
        "tables": [{"source": t} for t in tables],
        "rollback": {
            "snapshot_dir": str(tmp_path / "snapshots"),
            "audit_log": str(tmp_path / "audit" / "rollback.jsonl"),
            "approvals_required": approvals,
            **settings,
        },
    }
    spec.write_text(yaml.safe_dump(document), encoding="utf-8")
    return spec


def _only_snapshot(tmp_path: Path) -> Path:
    (folder,) = [p.parent for p in (tmp_path / "snapshots").glob("*/manifest.json")]
    return folder


def _plan_checksum(out: str) -> str:
    found = re.search(r"plan checksum: ([0-9a-f]{64})", out)
    assert found, out
    return found.group(1)


def _audit_events(tmp_path: Path) -> list[str]:
    log = tmp_path / "audit" / "rollback.jsonl"
    return [json.loads(line)["event"] for line in log.read_text().splitlines() if line.strip()]


@dataclass(frozen=True)
class Engine:
    fixture: str
    schema: list[str]
    damage: list[str]
    expected_next_sql: str  # run on the snapshot's data: the ids the generators must hand out next
    next_sql: str  # run after the restore
    index_sql: str
    restore_sql: str  # a statement the writing step must show: emptying children / the atomic swap
    settings: dict[str, Any] = field(default_factory=dict)  # more of the spec's rollback section


POSTGRESQL = Engine(
    "pg_db",
    data.PG_SCHEMA,
    data.PG_DAMAGE,
    "SELECT (SELECT max(id) + 1 FROM customers), (SELECT max(id) + 1 FROM orders)",
    "SELECT nextval('customers_id_seq'), nextval('orders_id_seq')",
    "SELECT indexname FROM pg_indexes WHERE tablename = 'orders'",
    'DELETE FROM "order_items"',
)
ENGINES = [
    pytest.param(POSTGRESQL, marks=pytest.mark.postgres, id="postgresql"),
    pytest.param(
        replace(POSTGRESQL, settings={"in_database_snapshot": True}),
        marks=pytest.mark.postgres,
        id="postgresql-in-database",
    ),
    pytest.param(
        Engine(
            "mariadb_db",
            data.MY_SCHEMA,
            data.MY_DAMAGE,
            # InnoDB may reserve ids in blocks for INSERT ... SELECT: the counter as it stood is the truth.
            "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('customers', 'orders') ORDER BY 1",
            "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('customers', 'orders') ORDER BY 1",
            "SELECT INDEX_NAME FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'orders'",
            "RENAME TABLE",
        ),
        marks=pytest.mark.mariadb,
        id="mariadb",
    ),
]


@pytest.mark.parametrize("engine", ENGINES)
def test_snapshot_damage_plan_approve_execute(
    engine: Engine, request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db: Any = request.getfixturevalue(engine.fixture)
    db.execute(*engine.schema)
    spec = write_rollback_spec(tmp_path, db.url, data.TABLES, **engine.settings)

    done = _subprocess(tmp_path, "rollback", "snapshot", "--spec", spec)
    assert done.returncode == 0, done.stderr
    manifest = load_manifest(_only_snapshot(tmp_path))
    assert manifest.verified and str(manifest.directory) in done.stdout
    assert (manifest.db_copy is not None) == bool(engine.settings.get("in_database_snapshot"))
    if manifest.db_copy is not None:
        assert f"in-database copy: schema {manifest.db_copy.schema}" in done.stdout
    snapshot = data.recorded(manifest)
    assert data.checksums(db.url) == snapshot
    for entry in manifest.tables:
        assert f"{entry.rows:,}" in done.stdout and entry.checksum in done.stdout
    expected_next = db.query(engine.expected_next_sql)

    db.execute(*engine.damage)
    damaged = data.checksums(db.url)
    assert damaged != snapshot

    code, out, err = _run(capsys, "rollback", "execute", "--spec", spec)  # a dry run: the default
    assert code == 0, err
    assert engine.restore_sql in out and "nothing was written" in out
    assert data.checksums(db.url) == damaged

    code, out, err = _run(capsys, "rollback", "plan", "--spec", spec)
    assert code == 0, err
    assert "customers -> orders -> order_items" in out and "risk: high" in out
    assert engine.restore_sql in out
    checksum = _plan_checksum(out)
    saved = json.loads((tmp_path / "audit" / "plans" / f"{checksum}.json").read_text())
    changes = {t["table"]: (t["inserted"], t["updated"], t["deleted"]) for t in saved["risk"]["tables"]}
    assert changes == {"customers": (1, 6, 0), "orders": (1, 0, 0), "order_items": (0, 0, 40)}
    assert saved["load_order"] == ["customers", "orders", "order_items"]

    refused = _subprocess(tmp_path, "rollback", "execute", "--spec", spec, "--yes")
    assert refused.returncode == 2
    assert "0 of 2 required approvals" in refused.stderr and "Traceback" not in refused.stderr
    assert data.checksums(db.url) == damaged

    approve = ("rollback", "approve", "--spec", spec, "--plan-checksum", checksum)
    assert _run(capsys, *approve, "--approver", "alice", "--comment", "checked the risk")[0] == 0
    code, _, err = _run(capsys, *approve, "--approver", "alice")
    assert code == 2 and "already approved" in err
    code, _, err = _run(capsys, "rollback", "execute", "--spec", spec, "--yes")
    assert code == 2 and "1 of 2 required approvals" in err and "(alice)" in err
    assert data.checksums(db.url) == damaged
    assert "rollback.write.begin" not in _audit_events(tmp_path)

    code, out, err = _run(capsys, *approve[:-2], "--plan-checksum", checksum[:16], "--approver", "bob")
    assert code == 0, err
    assert "2 of 2" in out
    code, out, err = _run(capsys, "rollback", "execute", "--spec", spec, "--yes")
    assert code == 0, err

    assert data.checksums(db.url) == snapshot
    assert db.query(engine.next_sql) == expected_next
    assert ("orders_placed_idx",) in db.query(engine.index_sql)
    exported = (Path(manifest.directory) / "exports").glob("*.parquet")
    exports = {p.name.split(".")[0]: pq.read_table(p) for p in exported}
    names = exports["customers"].column("name").to_pylist()
    assert "new after cutover" in names and names.count("changed") == 6
    assert exports["orders"].num_rows == 1

    code, out, _ = _run(capsys, "rollback", "status", "--spec", spec, "--last", "40")
    assert code == 0
    assert f"plan {checksum}: 2 distinct approver(s)" in out
    assert "alice at" in out and "checked the risk" in out and "bob at" in out
    assert re.search(r"rollback\.step\.finished\s+\S+\s+apply_restore done", out), out


def _sqlite_target(path: Path) -> str:
    connection = sqlite3.connect(path)
    connection.executescript(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY, name VARCHAR);"
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id), v DECIMAL(6,2));"
        "INSERT INTO parent VALUES (1, 'a'), (2, 'b'), (3, NULL);"
        "INSERT INTO child VALUES (10, 1, 1.25), (11, 2, NULL), (12, 3, -4.5);"
    )
    connection.commit()
    connection.close()
    return f"sqlite:///{path}"


def _damage_sqlite(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.executescript("DELETE FROM child WHERE id = 12; INSERT INTO parent VALUES (4, 'new');")
    connection.commit()
    connection.close()


@pytest.fixture
def sqlite_spec(tmp_path: Path) -> tuple[Path, str]:
    url = _sqlite_target(tmp_path / "target.db")
    return write_rollback_spec(tmp_path, url, ["child", "parent"]), url


def test_approvals_of_an_older_snapshots_plan_do_not_count(
    sqlite_spec: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, url = sqlite_spec
    assert _run(capsys, "rollback", "snapshot", "--spec", spec)[0] == 0
    code, out, _ = _run(capsys, "rollback", "plan", "--spec", spec)
    old = _plan_checksum(out)
    for approver in ("alice", "bob"):
        assert _run(capsys, "rollback", "approve", "--spec", spec, "--plan-checksum", old, "--approver", approver)[0] == 0  # fmt: skip
    assert _run(capsys, "rollback", "snapshot", "--spec", spec)[0] == 0  # a newer snapshot: a new plan
    _damage_sqlite(tmp_path / "target.db")
    damaged = data.checksums(url, ["child", "parent"])

    code, _, err = _run(capsys, "rollback", "execute", "--spec", spec, "--yes")

    assert code == 2
    assert "0 of 2 required approvals" in err
    assert (
        f"approvals of other plans do not count (alice for plan {old[:12]}, bob for plan {old[:12]})" in err
    )
    assert data.checksums(url, ["child", "parent"]) == damaged
    assert _audit_events(tmp_path)[-1] == "rollback.refused"


def test_corrupted_snapshot_is_refused_before_any_write(
    sqlite_spec: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, url = sqlite_spec
    assert _run(capsys, "rollback", "snapshot", "--spec", spec)[0] == 0
    _damage_sqlite(tmp_path / "target.db")
    checksum = _plan_checksum(_run(capsys, "rollback", "plan", "--spec", spec)[1])
    for approver in ("alice", "bob"):
        assert _run(capsys, "rollback", "approve", "--spec", spec, "--plan-checksum", checksum, "--approver", approver)[0] == 0  # fmt: skip
    damaged = data.checksums(url, ["child", "parent"])
    folder = _only_snapshot(tmp_path)
    file = next(folder.glob("*_parent.parquet"))
    data.corrupt(file)

    code, _, err = _run(capsys, "rollback", "plan", "--spec", spec)
    assert code == 2 and file.name in err and "modified" in err
    code, _, err = _run(capsys, "rollback", "execute", "--spec", spec, "--yes")
    assert code == 2 and file.name in err and "Traceback" not in err
    assert data.checksums(url, ["child", "parent"]) == damaged
    assert "rollback.write.begin" not in _audit_events(tmp_path)


def test_unreadable_manifest_and_missing_snapshot_are_named(
    sqlite_spec: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, _ = sqlite_spec
    code, _, err = _run(capsys, "rollback", "plan", "--spec", spec)
    assert code == 2 and f"no verified snapshot under {tmp_path / 'snapshots'}" in err
    code, _, err = _run(capsys, "rollback", "execute", "--spec", spec, "--snapshot", tmp_path / "nowhere")
    assert code == 2 and f"--snapshot {tmp_path / 'nowhere'}: no such folder" in err

    assert _run(capsys, "rollback", "snapshot", "--spec", spec)[0] == 0
    manifest = _only_snapshot(tmp_path) / "manifest.json"
    manifest.write_text(manifest.read_text()[:-40])
    code, _, err = _run(capsys, "rollback", "plan", "--spec", spec)
    assert code == 2 and "manifest is unreadable" in err
    code, _, err = _run(capsys, "rollback", "plan", "--spec", spec, "--snapshot", manifest.parent)
    assert code == 2 and str(manifest.parent) in err and "unreadable" in err


def test_wrong_or_stale_plan_checksum_is_refused(
    sqlite_spec: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, url = sqlite_spec
    approve = ("rollback", "approve", "--spec", spec, "--approver", "alice", "--plan-checksum")
    code, _, err = _run(capsys, *approve, "not-a-checksum")
    assert code == 2 and "expected the plan's SHA-256" in err
    code, _, err = _run(capsys, *approve, "0" * 64)
    assert code == 2 and f"no plan with checksum {'0' * 64}" in err

    assert _run(capsys, "rollback", "snapshot", "--spec", spec)[0] == 0
    checksum = _plan_checksum(_run(capsys, "rollback", "plan", "--spec", spec)[1])
    write_rollback_spec(tmp_path, url, ["child", "parent"], approvals=3)  # the reviewed plan asked for 2
    code, _, err = _run(capsys, *approve, checksum)
    assert code == 2 and f"plan {checksum[:12]} no longer matches" in err
    assert "rollback.approved" not in _audit_events(tmp_path)


def test_status_reports_a_tampered_audit_log(
    sqlite_spec: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, _ = sqlite_spec
    code, out, _ = _run(capsys, "rollback", "status", "--spec", spec)
    assert code == 0 and "no audit log" in out
    assert _run(capsys, "rollback", "snapshot", "--spec", spec)[0] == 0
    checksum = _plan_checksum(_run(capsys, "rollback", "plan", "--spec", spec)[1])
    assert _run(capsys, "rollback", "approve", "--spec", spec, "--plan-checksum", checksum, "--approver", "bob")[0] == 0  # fmt: skip
    code, out, _ = _run(capsys, "rollback", "status", "--spec", spec)
    assert code == 0 and f"current plan {checksum} " in out and "1 of 2 approvals" in out
    log = tmp_path / "audit" / "rollback.jsonl"
    log.write_text(log.read_text().replace('"bob"', '"mallory"'))
    code, out, _ = _run(capsys, "rollback", "status", "--spec", spec)
    assert code == 1 and "was edited" in out and "mallory" not in out


def test_missing_spec_and_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "rollback", "plan", "--spec", tmp_path / "absent.yaml")
    assert code == 2 and f"{tmp_path / 'absent.yaml'}: file not found" in err
    code, _, err = _run(capsys, "rollback", "execute", "--spec", tmp_path / "s.yaml", "--yes", "--dry-run")
    assert code == 2 and "not allowed with argument" in err
