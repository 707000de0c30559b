"""Running a rollback plan step by step; the only code in pm-pipeline that writes to a target.

Every destructive step re-checks its guards itself (snapshot verified, changes exported,
approvals of this exact plan), so no caller (CLI, Dagster op, test) can skip them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pm_pipeline.core.connectors import connect
from pm_pipeline.core.errors import IntegrityRefusal
from pm_pipeline.core.rollback import sql as restore_sql
from pm_pipeline.core.rollback.approvals import approvals_for, require_approvals
from pm_pipeline.core.rollback.checksum import digest_batches, table_checksum
from pm_pipeline.core.rollback.plan import PlanStep, RollbackPlan
from pm_pipeline.core.rollback.risk import EXPORT_SUMMARY, assess_risk
from pm_pipeline.core.rollback.snapshot import load_manifest, read_snapshot_table, verify_snapshot
from pm_pipeline.core.security.audit import AuditLog

StepStatus = Literal["done", "dry_run", "refused"]


@dataclass(frozen=True)
class StepResult:
    name: str
    status: StepStatus
    detail: str
    sql: tuple[str, ...] = ()


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
    audit_log: str | Path,
    export_dir: str | Path,
    dry_run: bool,
    actor: str = "system",
) -> StepResult:
    """Run one step. Dry runs read everything and write nothing to the target, showing the SQL instead."""
    audit = AuditLog(audit_log)
    exports = Path(export_dir)
    base = {"plan_checksum": plan.checksum, "step": step.name, "dry_run": dry_run}
    audit.append("rollback.step.started", actor=actor, data=base)
    try:
        result = _run(plan, step, audit_log=audit_log, exports=exports, dry_run=dry_run)
    except Exception as exc:
        audit.append("rollback.step.failed", actor=actor, data={**base, "error": str(exc)})
        raise
    audit.append(
        "rollback.step.finished", actor=actor, data={**base, "status": result.status, "detail": result.detail}
    )
    return result


def _run(
    plan: RollbackPlan, step: PlanStep, *, audit_log: str | Path, exports: Path, dry_run: bool
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
        manifest = verify_snapshot(plan.snapshot_dir)
        return StepResult(step.name, "done", f"{len(manifest.tables)} table file(s) verified")
    if kind == "export_changes":
        risk = assess_risk(plan, export_dir=exports)
        return StepResult(
            step.name, "done", f"{risk.changed_rows} changed row(s) exported to {exports}; risk {risk.level}"
        )
    if kind == "check_approvals":
        if dry_run:
            found = approvals_for(plan.checksum, audit_log=audit_log)
            return StepResult(step.name, "dry_run", f"{len(found)} of {plan.approvals_required} approvals")
        found = require_approvals(plan, audit_log=audit_log)
        return StepResult(step.name, "done", "approved by " + ", ".join(a.approver for a in found))
    if kind == "stage_table":
        assert step.table is not None
        manifest = load_manifest(plan.snapshot_dir)
        entry = manifest.table(step.table)
        digest = digest_batches(read_snapshot_table(manifest, entry).to_batches(), entry.schema)
        if digest.checksum != entry.checksum:
            raise IntegrityRefusal(f"snapshot rows of {entry.name} do not match the manifest checksum")
        return StepResult(step.name, "done", f"{digest.rows} rows staged from {entry.file}")
    if kind == "apply_restore":
        return _apply(plan, step, audit_log=audit_log, exports=exports, dry_run=dry_run)
    if kind == "verify_restore":
        if dry_run:
            return StepResult(step.name, "dry_run", "nothing restored to verify")
        checksums = verify_restored(plan)
        return StepResult(step.name, "done", json.dumps(checksums, sort_keys=True))
    raise AssertionError(f"unknown step kind {kind}")


def _apply(
    plan: RollbackPlan, step: PlanStep, *, audit_log: str | Path, exports: Path, dry_run: bool
) -> StepResult:
    if dry_run:
        return StepResult(step.name, "dry_run", "no statement run", step.sql)
    # The guards, in the order a careful person would check them, right before the first write.
    manifest = verify_snapshot(plan.snapshot_dir)
    approvals = require_approvals(plan, audit_log=audit_log)
    # Export again right before writing: rows changed since the export_changes step are saved too.
    risk = assess_risk(plan, export_dir=exports)
    if not _export_done(plan, exports):
        raise IntegrityRefusal(
            f"rollback refused: rows changed since the snapshot were not exported to {exports}"
        )
    AuditLog(audit_log).append(
        "rollback.changes.exported",
        data={"plan_checksum": plan.checksum, "changed_rows": risk.changed_rows, "export_dir": str(exports)},
    )
    AuditLog(audit_log).append(
        "rollback.write.begin",
        data={"plan_checksum": plan.checksum, "approvers": [a.approver for a in approvals]},
    )
    with connect(plan.target_url) as connector:
        ran = restore_sql.apply_restore(
            connector, manifest, order=list(plan.load_order), defer=bool(plan.deferred_cycles)
        )
    AuditLog(audit_log).append("rollback.write.committed", data={"plan_checksum": plan.checksum})
    return StepResult(
        step.name, "done", f"{len(plan.load_order)} table(s) restored in one transaction", tuple(ran)
    )


def verify_restored(plan: RollbackPlan) -> dict[str, str]:
    """Recompute every restored table's canonical checksum; raise IntegrityRefusal if one differs."""
    manifest = load_manifest(plan.snapshot_dir)
    checksums: dict[str, str] = {}
    with connect(plan.target_url) as connector:
        for entry in manifest.tables:
            digest = table_checksum(connector, entry.name, schema=entry.schema)
            if digest.checksum != entry.checksum or digest.rows != entry.rows:
                raise IntegrityRefusal(
                    f"restored table {entry.name} has {digest.rows} rows / {digest.checksum[:12]}, "
                    f"snapshot {entry.rows} rows / {entry.checksum[:12]}"
                )
            checksums[entry.name] = digest.checksum
    return checksums


def execute_plan(
    plan: RollbackPlan,
    *,
    audit_log: str | Path,
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
            checksums = json.loads(result.detail)
    return ExecutionResult(plan.checksum, dry_run, tuple(results), checksums)
