"""`pm-pipeline perf --apply` on real PostgreSQL: the advised index is refused without the rollback's
approvals, created CONCURRENTLY once two people approved its plan, and audited before and after."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pm_pipeline.cli import main
from pm_pipeline_tests.conftest import PgDatabase

pytestmark = pytest.mark.postgres

TABLE = (
    "CREATE TABLE customers (id integer PRIMARY KEY, email text NOT NULL, city text NOT NULL)",
    "INSERT INTO customers SELECT i, 'user' || i || '@example.com', 'city ' || (i % 30) "
    "FROM generate_series(1, 20000) i",
)
WORKLOAD = """
performance:
  repetitions: 5
  warmup: 1
  workload:
    - name: login_by_email
      sql: "SELECT id FROM customers WHERE email = :email"
      params: {email: "user4242@example.com"}
"""


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _target_indexes(db: PgDatabase) -> list[tuple[object, ...]]:
    return db.query(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'customers' AND indexdef LIKE '%(email)%' "
        "ORDER BY indexname"
    )


def _audit_events(log: Path) -> list[str]:
    if not log.exists():
        return []
    return [json.loads(line)["event"] for line in log.read_text().splitlines()]


def test_apply_needs_two_approvals_then_creates_the_index_and_audits_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_db: PgDatabase, pg_db2: PgDatabase
) -> None:
    pg_db.execute(
        *TABLE, "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email)", "ANALYZE"
    )
    pg_db2.execute(*TABLE, "ANALYZE")
    log = tmp_path / "audit" / "rollback.jsonl"
    spec = tmp_path / "migration.yaml"
    spec.write_text(
        f"name: perf\nsource: {{url: '{pg_db.url}'}}\ntarget: {{url: '{pg_db2.url}'}}\n"
        f"rollback: {{approvals_required: 2, audit_log: '{log}'}}\n{WORKLOAD}"
    )

    code, out, err = _run(capsys, "perf", "--spec", str(spec), "--apply")
    assert code == 2, out + err
    assert "--apply refused" in err and "0 approval(s)" in err
    checksum = re.search(r"--approve ([0-9a-f]{64})", err)
    assert checksum is not None, err
    plan = json.loads((log.parent / "plans" / f"{checksum[1]}.json").read_text())
    assert plan["statements"] == ['CREATE UNIQUE INDEX CONCURRENTLY ON "public"."customers" ("email")']
    assert _target_indexes(pg_db2) == []
    assert "perf.index_apply.started" not in _audit_events(log)

    assert _run(capsys, "perf", "--spec", str(spec), "--approve", checksum[1], "--approver", "Alice")[0] == 0
    # The same person twice still counts once.
    code, _, err = _run(capsys, "perf", "--spec", str(spec), "--approve", checksum[1], "--approver", "alice")
    assert code == 2 and "already approved" in err
    code, _, err = _run(capsys, "perf", "--spec", str(spec), "--apply")
    assert code == 2 and "1 approval(s)" in err and "(Alice)" in err
    assert _target_indexes(pg_db2) == []

    assert _run(capsys, "perf", "--spec", str(spec), "--approve", checksum[1], "--approver", "Bob")[0] == 0
    code, out, err = _run(capsys, "perf", "--spec", str(spec), "--apply")
    assert code == 1, out + err  # this run still measured the target without the index
    assert "1 index(es) created" in out
    [(definition,)] = _target_indexes(pg_db2)
    assert str(definition).startswith("CREATE UNIQUE INDEX") and "(email)" in str(definition)
    valid = pg_db2.query("SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = 'customers'::regclass")
    assert valid == [(True,)]
    events = _audit_events(log)
    assert events[-2:] == ["perf.index_apply.started", "perf.index_apply.finished"]
    finished = json.loads(log.read_text().splitlines()[-1])["data"]
    assert finished["plan_checksum"] == checksum[1] and len(finished["created"]) == 1

    # With the index in place the workload advises nothing: nothing more to create, no regression.
    code, out, err = _run(capsys, "perf", "--spec", str(spec), "--apply")
    assert code == 0, out + err
    assert "nothing to create" in out


def test_approving_a_plan_never_written_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "migration.yaml"
    spec.write_text(
        "name: perf\nsource: {url: 'sqlite:///a.db'}\ntarget: {url: 'sqlite:///b.db'}\n"
        f"rollback: {{audit_log: '{tmp_path / 'audit.jsonl'}'}}\n{WORKLOAD}"
    )
    code, _, err = _run(capsys, "perf", "--spec", str(spec), "--approve", "ab" * 32, "--approver", "Alice")
    assert code == 2 and "no index plan abababababab" in err
    assert not (tmp_path / "audit.jsonl").exists()
    code, _, err = _run(
        capsys,
        "perf",
        "--source",
        "sqlite:///a.db",
        "--target",
        "sqlite:///b.db",
        "--query",
        "SELECT 1",
        "--apply",
    )
    assert code == 2 and "need --spec" in err


def test_a_failed_build_leaves_no_invalid_index_and_is_audited(tmp_path: Path, pg_db: PgDatabase) -> None:
    from pm_pipeline.core.connectors import connect
    from pm_pipeline.core.errors import SystemFailure
    from pm_pipeline.core.perf.apply import IndexPlan, apply_plan
    from pm_pipeline.core.rollback.approvals import approve_checksum
    from pm_pipeline.core.security.audit import AuditLog

    # Advice from a source's unique constraint, on a target whose copy holds duplicates.
    pg_db.execute(
        "CREATE TABLE customers (id integer PRIMARY KEY, email text)",
        *(f"INSERT INTO customers VALUES ({i}, 'same@example.com')" for i in (1, 2)),
    )
    plan = IndexPlan(
        target="postgresql://target",
        statements=('CREATE UNIQUE INDEX CONCURRENTLY ON "public"."customers" ("email")',),
        tables=("customers",),
    )
    log = AuditLog(tmp_path / "audit.jsonl")
    for name in ("Alice", "Bob"):
        approve_checksum(plan.checksum, approver=name, audit_log=log, allowed_signers=None)
    with connect(pg_db.url) as target, pytest.raises(SystemFailure, match="could not create unique index"):
        apply_plan(plan, target=target, audit_log=log, actor="ops", approvals_required=2)
    assert _target_indexes(pg_db) == []  # the invalid index the failed build left was dropped
    assert _audit_events(log.path)[-2:] == ["perf.index_apply.started", "perf.index_apply.failed"]
    assert "same@example.com" not in log.path.read_text()  # the duplicate value is not recorded


def test_apply_on_a_target_other_than_postgresql_is_refused_before_anything_is_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import sqlite3

    for name, index in (("source.db", True), ("target.db", False)):
        with sqlite3.connect(tmp_path / name) as conn:
            conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, city TEXT)")
            conn.executemany(
                "INSERT INTO customers VALUES (?, ?, ?)",
                [(i, f"user{i}@example.com", "x") for i in range(1, 3001)],
            )
            if index:
                conn.execute("CREATE UNIQUE INDEX customers_email_key ON customers (email)")
    log = tmp_path / "audit" / "rollback.jsonl"
    spec = tmp_path / "migration.yaml"
    spec.write_text(
        f"name: perf\nsource: {{url: 'sqlite:///{tmp_path}/source.db'}}\n"
        f"target: {{url: 'sqlite:///{tmp_path}/target.db'}}\nrollback: {{audit_log: '{log}'}}\n{WORKLOAD}"
    )
    code, out, err = _run(capsys, "perf", "--spec", str(spec), "--apply")
    assert "index_advice" in out  # there was advice to apply
    assert code == 2 and "PostgreSQL targets only; the target is sqlite" in err
    assert not (log.parent / "plans").exists() and not log.exists()


def test_a_build_behind_a_production_lock_gives_up_after_the_lock_timeout(
    tmp_path: Path, pg_db: PgDatabase
) -> None:
    import threading

    import psycopg

    from pm_pipeline.core.config.timeouts import Timeouts
    from pm_pipeline.core.connectors import connect
    from pm_pipeline.core.errors import SystemFailure
    from pm_pipeline.core.perf.apply import IndexPlan, apply_plan
    from pm_pipeline.core.rollback.approvals import approve_checksum
    from pm_pipeline.core.security.audit import AuditLog

    pg_db.execute(*TABLE)
    plan = IndexPlan(
        target="postgresql://target",
        statements=('CREATE INDEX CONCURRENTLY ON "public"."customers" ("email")',),
        tables=("customers",),
    )
    log = AuditLog(tmp_path / "audit.jsonl")
    for name in ("Alice", "Bob"):
        approve_checksum(plan.checksum, approver=name, audit_log=log, allowed_signers=None)
    holder = psycopg.connect(pg_db.url)
    holder.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
    # Released long after the lock timeout: a build that waits for it would succeed, late.
    release = threading.Timer(20, holder.close)
    release.start()
    try:
        with (
            connect(pg_db.url, timeouts=Timeouts(lock=0.5)) as target,
            pytest.raises(SystemFailure, match="lock timeout"),
        ):
            apply_plan(plan, target=target, audit_log=log, actor="ops", approvals_required=2)
    finally:
        release.cancel()
        holder.close()
    assert _target_indexes(pg_db) == []
    assert _audit_events(log.path)[-1] == "perf.index_apply.failed"


def test_a_saved_index_plan_is_written_whole_and_never_rewritten(tmp_path: Path) -> None:
    import os

    from pm_pipeline.core.perf.apply import IndexPlan, save_plan

    plan = IndexPlan(
        target="postgresql://target",
        statements=('CREATE INDEX CONCURRENTLY ON "public"."customers" ("email")',),
        tables=("customers",),
    )
    path = save_plan(plan, plans_dir=tmp_path / "plans")
    assert json.loads(path.read_text(encoding="utf-8"))["checksum"] == plan.checksum
    os.utime(path, (0, 0))  # as first reviewed
    assert save_plan(plan, plans_dir=tmp_path / "plans") == path
    assert path.stat().st_mtime == 0
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no partial file left


def test_apply_waits_at_most_the_specs_lock_timeout_for_a_production_lock(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_db: PgDatabase, pg_db2: PgDatabase
) -> None:
    import threading

    import psycopg

    pg_db.execute(*TABLE, "CREATE INDEX customers_email_idx ON customers (email)", "ANALYZE")
    pg_db2.execute(*TABLE, "ANALYZE")
    log = tmp_path / "audit" / "rollback.jsonl"
    spec = tmp_path / "migration.yaml"
    spec.write_text(
        f"name: perf\nsource: {{url: '{pg_db.url}'}}\ntarget: {{url: '{pg_db2.url}', timeouts: {{lock: 500ms}}}}\n"
        f"rollback: {{approvals_required: 2, audit_log: '{log}'}}\n{WORKLOAD}"
    )
    code, out, err = _run(capsys, "perf", "--spec", str(spec), "--apply")
    checksum = re.search(r"--approve ([0-9a-f]{64})", err)
    assert code == 2 and checksum is not None, out + err
    for name in ("Alice", "Bob"):
        assert _run(capsys, "perf", "--spec", str(spec), "--approve", checksum[1], "--approver", name)[0] == 0
    # Reads go on beside this lock (a VACUUM's, say); an index build queues behind it.
    holder = psycopg.connect(pg_db2.url)
    holder.execute("LOCK TABLE customers IN SHARE UPDATE EXCLUSIVE MODE")
    # Released before the default lock timeout (10 s) but long after the spec's.
    release = threading.Timer(6, holder.close)
    release.start()
    try:
        code, out, err = _run(capsys, "perf", "--spec", str(spec), "--apply")
    finally:
        release.cancel()
        holder.close()
    assert code == 3, out + err
    assert "lock timeout" in err
    assert _target_indexes(pg_db2) == []
    assert _audit_events(log)[-1] == "perf.index_apply.failed"
