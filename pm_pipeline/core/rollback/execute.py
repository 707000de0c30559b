"""Running a rollback plan step by step; the only code in pm-pipeline that writes to a target.

Every destructive step re-checks its guards itself (snapshot files unchanged since they were
verified, changes exported, approvals of this exact plan), so no caller (CLI, Dagster op, test)
can skip them. Every step returns the SQL it runs (or, in a dry run, would run) against the target.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pm_pipeline.core.connectors import Column, connect, parse_url
from pm_pipeline.core.errors import IntegrityRefusal
from pm_pipeline.core.rollback import sql as restore_sql
from pm_pipeline.core.rollback import swap
from pm_pipeline.core.rollback.approvals import approvals_for, require_approvals
from pm_pipeline.core.rollback.checksum import select_sql, table_checksum
from pm_pipeline.core.rollback.dbcopy import check_copies, fingerprint_sql, relation
from pm_pipeline.core.rollback.plan import PlanStep, RollbackPlan
from pm_pipeline.core.rollback.reconcile import as_audit_data, diff_folder, reconcile_with_snapshot
from pm_pipeline.core.rollback.risk import EXPORT_SUMMARY, assess_risk
from pm_pipeline.core.rollback.snapshot import (
    Manifest,
    TableSnapshot,
    file_sha256,
    load_manifest,
    verify_snapshot,
)
from pm_pipeline.core.security.audit import AuditLog, open_audit_log

StepStatus = Literal["done", "dry_run", "refused"]


@dataclass(frozen=True)
class StepResult:
    name: str
    status: StepStatus
    detail: str
    sql: tuple[str, ...] = ()
    checksums: dict[str, str] = field(default_factory=dict)  # verify_restore: table -> checksum


@dataclass(frozen=True)
class ExecutionResult:
    plan_checksum: str
    dry_run: bool
    steps: tuple[StepResult, ...]
    checksums: dict[str, str] = field(default_factory=dict)

    @property
    def restored(self) -> bool:
        return not self.dry_run and any(s.name == "apply_restore" and s.status == "done" for s in self.steps)


def _export_done(plan: RollbackPlan, export_dir: Path) -> bool:
    summary = export_dir / EXPORT_SUMMARY
    if not summary.exists():
        return False
    return bool(json.loads(summary.read_text()).get("plan_checksum") == plan.checksum)


def run_step(
    plan: RollbackPlan,
    step: PlanStep,
    *,
    audit_log: str | Path | AuditLog,
    export_dir: str | Path,
    dry_run: bool,
    actor: str = "system",
) -> StepResult:
    """Run one step. Dry runs read everything and write nothing to the target, showing the SQL instead."""
    audit = open_audit_log(audit_log)
    exports = Path(export_dir)
    base = {"plan_checksum": plan.checksum, "step": step.name, "dry_run": dry_run}
    audit.append("rollback.step.started", actor=actor, data=base)
    try:
        result = _run(plan, step, audit_log=audit_log, exports=exports, dry_run=dry_run, actor=actor)
    except Exception as exc:
        audit.append("rollback.step.failed", actor=actor, data={**base, "error": str(exc)})
        raise
    audit.append(
        "rollback.step.finished", actor=actor, data={**base, "status": result.status, "detail": result.detail}
    )
    return result


def _run(
    plan: RollbackPlan,
    step: PlanStep,
    *,
    audit_log: str | Path | AuditLog,
    exports: Path,
    dry_run: bool,
    actor: str,
) -> StepResult:
    kind = step.kind
    if kind in ("freeze_writes", "unfreeze_writes"):
        if dry_run:
            return StepResult(step.name, "dry_run", "hook not run", step.sql)
        require_approvals(plan, audit_log=audit_log)
        with connect(plan.target_url) as connector, connector.transaction() as tx:
            for statement in step.sql:
                tx.execute(statement)
        return StepResult(step.name, "done", "hook run", step.sql)
    if kind == "verify_snapshot":
        return _verify_snapshot_step(plan, step)
    if kind == "export_changes":
        risk = assess_risk(plan, export_dir=exports)
        return StepResult(
            step.name,
            "done",
            f"{risk.changed_rows} changed row(s) exported to {exports}; risk {risk.level}",
            _read_sql(plan),
        )
    if kind == "check_approvals":
        note = (
            f"-- no SQL: counts approvals of plan {plan.checksum[:12]} in {open_audit_log(audit_log).path}",
        )
        if dry_run:
            found = approvals_for(plan.checksum, audit_log=audit_log, allowed_signers=plan.allowed_signers)
            return StepResult(
                step.name, "dry_run", f"{len(found)} of {plan.approvals_required} approvals", note
            )
        found = require_approvals(plan, audit_log=audit_log)
        return StepResult(step.name, "done", "approved by " + ", ".join(a.approver for a in found), note)
    if kind == "stage_table":
        assert step.table is not None
        manifest = load_manifest(plan.snapshot_dir)
        entry = manifest.table(step.table)
        _check_file(manifest, entry)
        return StepResult(
            step.name,
            "done",
            f"{entry.rows} rows staged from {entry.file}",
            (f"-- no SQL: reads {entry.file}",),
        )
    if kind == "apply_restore":
        return _apply(plan, step, audit_log=audit_log, exports=exports, dry_run=dry_run, actor=actor)
    if kind == "verify_restore":
        if dry_run:
            return StepResult(step.name, "dry_run", "nothing restored to verify", _read_sql(plan))
        checksums = verify_restored(plan, diff_dir=diff_folder(exports))
        return StepResult(
            step.name, "done", json.dumps(checksums, sort_keys=True), _read_sql(plan), checksums
        )
    if kind == "reconcile":
        return _reconcile_step(plan, step, audit_log=audit_log, exports=exports, dry_run=dry_run, actor=actor)
    raise AssertionError(f"unknown step kind {kind}")


_CONNECTORS = {
    "postgresql": "pm_pipeline.core.connectors.postgres:PostgresConnector",
    "mysql": "pm_pipeline.core.connectors.mysql:MySqlConnector",
    "duckdb": "pm_pipeline.core.connectors.duckdb:DuckDbConnector",
    "sqlite": "pm_pipeline.core.connectors.sqlite:SqliteConnector",
}


class _TargetNames:
    """The target connector's own rendering of names and column reads, without a connection.

    Quoting, qualified names and select expressions come from the engine's connector class; only
    the schema it qualifies with is read from the URL, as the connector reads it.
    """

    def __init__(self, target_url: str, engine: str) -> None:
        module, name = _CONNECTORS.get(engine, "pm_pipeline.core.connectors.base:Connector").split(":")
        self._connector: Any = getattr(importlib.import_module(module), name)
        url = parse_url(target_url)
        self.engine = engine
        self.schema = url.query.get("schema", "public") if engine == "postgresql" else url.database

    def quote(self, identifier: str) -> str:
        return str(self._connector.quote(self, identifier))

    def qualified(self, table: str) -> str:
        return str(self._connector.qualified(self, table))

    def select_expression(self, column: Column) -> str:
        return str(self._connector.select_expression(self, column))


def _read_sql(plan: RollbackPlan) -> tuple[str, ...]:
    """The SELECTs that read the target's tables, as the connector renders them."""
    manifest = load_manifest(plan.snapshot_dir)
    names = _TargetNames(plan.target_url, plan.engine)
    return tuple(
        select_sql(names, names.qualified(name), manifest.table(name).schema) for name in plan.load_order
    )


def _check_file(manifest: Manifest, entry: TableSnapshot) -> None:
    """Refuse a snapshot file that is not byte for byte the one its manifest names (SHA-256).

    A verified manifest's files were re-read and checked canonically when it was written; the
    verify_snapshot and verify_restore steps check them canonically again.
    """
    path = Path(manifest.directory) / entry.file
    if not path.exists():
        raise IntegrityRefusal(
            f"snapshot {manifest.directory}: file {entry.file} of table {entry.name} is missing"
        )
    if file_sha256(path) != entry.file_sha256:
        raise IntegrityRefusal(
            f"snapshot {manifest.directory}: file {entry.file} of table {entry.name} was modified "
            "(SHA-256 differs)"
        )


def _unchanged_snapshot(folder: str | Path) -> Manifest:
    """The manifest of a verified snapshot whose files are unchanged since (each file's SHA-256).

    A snapshot never marked verified is verified in full instead.
    """
    manifest = load_manifest(folder)
    if not manifest.verified:
        return verify_snapshot(folder)
    for entry in manifest.tables:
        _check_file(manifest, entry)
    return manifest


def _verify_snapshot_step(plan: RollbackPlan, step: PlanStep) -> StepResult:
    manifest = verify_snapshot(plan.snapshot_dir)
    detail = f"{len(manifest.tables)} table file(s) verified"
    sql = [f"-- no SQL: re-reads {entry.file}" for entry in manifest.tables]
    copy = manifest.db_copy
    if copy is not None:
        with connect(plan.target_url) as connector:
            sql += [
                fingerprint_sql(relation(connector, copy.schema, entry.name)) for entry in manifest.tables
            ]
            problems = check_copies(connector, copy, manifest.tables)
        detail += (
            f"; restore will load from Parquet: {'; '.join(problems.values())}"
            if problems
            else f"; in-database copies in {copy.schema} verified"
        )
    return StepResult(step.name, "done", detail, tuple(sql))


def _reconcile_step(
    plan: RollbackPlan,
    step: PlanStep,
    *,
    audit_log: str | Path | AuditLog,
    exports: Path,
    dry_run: bool,
    actor: str,
) -> StepResult:
    manifest = load_manifest(plan.snapshot_dir)
    sql = _read_sql(plan) + tuple(f"-- and reads {manifest.table(name).file}" for name in plan.load_order)
    if dry_run:
        return StepResult(step.name, "dry_run", "nothing restored to reconcile", sql)
    results = reconcile_with_snapshot(
        plan.target_url, manifest, tables=list(plan.load_order), diff_dir=diff_folder(exports)
    )
    passed = all(result.passed for result in results)
    open_audit_log(audit_log).append(
        "rollback.reconciled",
        actor=actor,
        data={"plan_checksum": plan.checksum, "passed": passed, "tables": as_audit_data(results)},
    )
    detail = "; ".join(result.describe() for result in results)
    if not passed:
        raise IntegrityRefusal(
            f"reconciliation of the restored tables with the snapshot found differences: {detail}"
        )
    return StepResult(step.name, "done", f"every restored table matches its snapshot: {detail}", sql)


def _apply(
    plan: RollbackPlan,
    step: PlanStep,
    *,
    audit_log: str | Path | AuditLog,
    exports: Path,
    dry_run: bool,
    actor: str,
) -> StepResult:
    if dry_run:
        return StepResult(step.name, "dry_run", "no statement run", step.sql)
    # The guards, in the order a careful person would check them, right before the first write.
    manifest = _unchanged_snapshot(plan.snapshot_dir)
    approvals = require_approvals(plan, audit_log=audit_log)
    audit = open_audit_log(audit_log)

    def export_then_write() -> None:
        # Export again right before writing: rows changed since the export_changes step are saved too.
        risk = assess_risk(plan, export_dir=exports)
        if not _export_done(plan, exports):
            raise IntegrityRefusal(
                f"rollback refused: rows changed since the snapshot were not exported to {exports}"
            )
        audit.append(
            "rollback.changes.exported",
            actor=actor,
            data={
                "plan_checksum": plan.checksum,
                "changed_rows": risk.changed_rows,
                "export_dir": str(exports),
            },
        )
        audit.append(
            "rollback.write.begin",
            actor=actor,
            data={"plan_checksum": plan.checksum, "approvers": [a.approver for a in approvals]},
        )

    order = list(plan.load_order)
    with connect(plan.target_url) as connector:
        if connector.engine == "mysql":
            outcome = swap.restore_by_swap(connector, manifest, order=order, before_write=export_then_write)
        else:
            outcome = restore_sql.apply_restore(
                connector,
                manifest,
                order=order,
                defer=bool(plan.deferred_cycles),
                before_write=export_then_write,
            )
    for table, reason in outcome.fallbacks.items():
        audit.append(
            "rollback.copy.unused",
            actor=actor,
            data={"plan_checksum": plan.checksum, "table": table, "reason": reason},
        )
    audit.append(
        "rollback.write.committed",
        actor=actor,
        data={"plan_checksum": plan.checksum, "sources": outcome.sources},
    )
    how = "swapped in with one RENAME TABLE" if manifest.engine == "mysql" else "restored in one transaction"
    sources = ", ".join(f"{table} from {source}" for table, source in outcome.sources.items())
    unused = "".join(
        f"; {reason}, so {table} was loaded from Parquet" for table, reason in outcome.fallbacks.items()
    )
    return StepResult(step.name, "done", f"{len(order)} table(s) {how}: {sources}{unused}", outcome.sql)


def verify_restored(plan: RollbackPlan, *, diff_dir: Path | None = None) -> dict[str, str]:
    """Recompute every restored table's canonical checksum; raise IntegrityRefusal if one differs.

    With ``diff_dir``, the tables that differ are also reconciled against the snapshot, so that the
    error names their missing, extra and changed rows (written to ``diff_dir``).
    """
    manifest = load_manifest(plan.snapshot_dir)
    checksums: dict[str, str] = {}
    wrong: list[str] = []
    with connect(plan.target_url) as connector:
        for entry in manifest.tables:
            digest = table_checksum(connector, entry.name, schema=entry.schema)
            if digest.checksum != entry.checksum or digest.rows != entry.rows:
                wrong.append(
                    f"restored table {entry.name} has {digest.rows} rows / {digest.checksum[:12]}, "
                    f"snapshot {entry.rows} rows / {entry.checksum[:12]}"
                )
            checksums[entry.name] = digest.checksum
    if wrong:
        tables = [name for name in plan.load_order if checksums.get(name) != manifest.table(name).checksum]
        if diff_dir is not None:
            results = reconcile_with_snapshot(plan.target_url, manifest, tables=tables, diff_dir=diff_dir)
            wrong += [result.describe() for result in results]
        raise IntegrityRefusal("; ".join(wrong))
    return checksums


def execute_plan(
    plan: RollbackPlan,
    *,
    audit_log: str | Path | AuditLog,
    export_dir: str | Path,
    dry_run: bool,
    actor: str = "system",
) -> ExecutionResult:
    """Run every step in order. A refusal (IntegrityRefusal) stops the run before any later step."""
    results = [
        run_step(plan, step, audit_log=audit_log, export_dir=export_dir, dry_run=dry_run, actor=actor)
        for step in plan.steps
    ]
    checksums: dict[str, str] = {}
    for result in results:
        if result.name == "verify_restore" and result.status == "done":
            checksums = result.checksums
    return ExecutionResult(plan.checksum, dry_run, tuple(results), checksums)
