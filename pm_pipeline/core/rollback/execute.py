"""Running a rollback plan step by step; the only code in pm-pipeline that writes to a target.

Every destructive step re-checks its guards itself (snapshot files unchanged since they were
verified, changes exported, approvals of this exact plan), so no caller (CLI, Dagster op, test)
can skip them. Every step returns the SQL it runs (or, in a dry run, would run) against the target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pm_pipeline.core.connectors import connect
from pm_pipeline.core.dialects import dialect_for
from pm_pipeline.core.errors import IntegrityRefusal
from pm_pipeline.core.rollback import sql as restore_sql
from pm_pipeline.core.rollback import swap
from pm_pipeline.core.rollback.approvals import approvals_for, require_approvals
from pm_pipeline.core.rollback.dbcopy import check_copies, fingerprint_sql, relation
from pm_pipeline.core.rollback.plan import PlanStep, RollbackPlan
from pm_pipeline.core.rollback.reconcile import as_audit_data, diff_folder, reconcile_with_snapshot
from pm_pipeline.core.rollback.risk import assess_risk, export_done
from pm_pipeline.core.rollback.snapshot import load_manifest, verify_snapshot
from pm_pipeline.core.rollback.sql import Pause, no_pause
from pm_pipeline.core.rollback.verify import check_file, read_sql, unchanged_snapshot, verify_restored
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


def run_step(
    plan: RollbackPlan,
    step: PlanStep,
    *,
    audit_log: str | Path | AuditLog,
    export_dir: str | Path,
    dry_run: bool,
    actor: str = "system",
    pause: Pause = no_pause,
) -> StepResult:
    """Run one step. Dry runs read everything and write nothing to the target, showing the SQL instead.

    ``pause`` is told each point the restore reaches (:mod:`pm_pipeline.core.rollback.sql`).
    """
    audit = open_audit_log(audit_log)
    exports = Path(export_dir)
    base = {"plan_checksum": plan.checksum, "step": step.name, "dry_run": dry_run}
    audit.append("rollback.step.started", actor=actor, data=base)
    try:
        result = _run(
            plan, step, audit_log=audit_log, exports=exports, dry_run=dry_run, actor=actor, pause=pause
        )
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
    pause: Pause,
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
            read_sql(plan),
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
        check_file(manifest, entry)
        return StepResult(
            step.name,
            "done",
            f"{entry.rows} rows staged from {entry.file}",
            (f"-- no SQL: reads {entry.file}",),
        )
    if kind == "apply_restore":
        return _apply(
            plan, step, audit_log=audit_log, exports=exports, dry_run=dry_run, actor=actor, pause=pause
        )
    if kind == "verify_restore":
        if dry_run:
            return StepResult(step.name, "dry_run", "nothing restored to verify", read_sql(plan))
        checksums = verify_restored(plan, diff_dir=diff_folder(exports))
        return StepResult(step.name, "done", json.dumps(checksums, sort_keys=True), read_sql(plan), checksums)
    if kind == "reconcile":
        return _reconcile_step(plan, step, audit_log=audit_log, exports=exports, dry_run=dry_run, actor=actor)
    raise AssertionError(f"unknown step kind {kind}")


def _verify_snapshot_step(plan: RollbackPlan, step: PlanStep) -> StepResult:
    manifest = verify_snapshot(plan.snapshot_dir)
    detail = f"{len(manifest.tables)} table file(s) verified"
    sql = [f"-- no SQL: re-reads {entry.file}" for entry in manifest.tables]
    copy = manifest.db_copy
    if copy is not None:
        with connect(plan.target_url) as connector:
            sql += [
                fingerprint_sql(connector.dialect, relation(connector, copy.schema, entry.name))
                for entry in manifest.tables
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
    sql = read_sql(plan) + tuple(f"-- and reads {manifest.table(name).file}" for name in plan.load_order)
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
    pause: Pause,
) -> StepResult:
    if dry_run:
        return StepResult(step.name, "dry_run", "no statement run", step.sql)
    # The guards, in the order a careful person would check them, right before the first write.
    manifest = unchanged_snapshot(plan.snapshot_dir)
    approvals = require_approvals(plan, audit_log=audit_log)
    audit = open_audit_log(audit_log)

    def export_then_write() -> None:
        # Export again right before writing: rows changed since the export_changes step are saved too.
        risk = assess_risk(plan, export_dir=exports)
        if not export_done(plan, exports):
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
        if not connector.dialect.supports_transactional_ddl:
            outcome = swap.restore_by_swap(
                connector, manifest, order=order, before_write=export_then_write, pause=pause
            )
        else:
            outcome = restore_sql.apply_restore(
                connector,
                manifest,
                order=order,
                defer=bool(plan.deferred_cycles),
                before_write=export_then_write,
                pause=pause,
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
    swapped = not dialect_for(manifest.engine).supports_transactional_ddl
    how = "swapped in with one RENAME TABLE" if swapped else "restored in one transaction"
    sources = ", ".join(f"{table} from {source}" for table, source in outcome.sources.items())
    unused = "".join(
        f"; {reason}, so {table} was loaded from Parquet" for table, reason in outcome.fallbacks.items()
    )
    return StepResult(step.name, "done", f"{len(order)} table(s) {how}: {sources}{unused}", outcome.sql)


def execute_plan(
    plan: RollbackPlan,
    *,
    audit_log: str | Path | AuditLog,
    export_dir: str | Path,
    dry_run: bool,
    actor: str = "system",
    pause: Pause = no_pause,
) -> ExecutionResult:
    """Run every step in order. A refusal (IntegrityRefusal) stops the run before any later step."""
    results = [
        run_step(
            plan, step, audit_log=audit_log, export_dir=export_dir, dry_run=dry_run, actor=actor, pause=pause
        )
        for step in plan.steps
    ]
    checksums: dict[str, str] = {}
    for result in results:
        if result.name == "verify_restore" and result.status == "done":
            checksums = result.checksums
    return ExecutionResult(plan.checksum, dry_run, tuple(results), checksums)
