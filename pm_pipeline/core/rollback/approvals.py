"""Approvals of a rollback plan, recorded in the hash-chained audit log and counted from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pm_pipeline.core.errors import BadInputError, IntegrityRefusal
from pm_pipeline.core.rollback.plan import RollbackPlan
from pm_pipeline.core.security.audit import AuditLog, open_audit_log

APPROVAL_EVENT = "rollback.approved"


@dataclass(frozen=True)
class Approval:
    approver: str
    at: str
    plan_checksum: str


def approvals_for(plan_checksum: str, *, audit_log: str | Path | AuditLog) -> list[Approval]:
    """Distinct approvals of exactly this plan. A tampered log counts nothing: it raises IntegrityRefusal."""
    log = open_audit_log(audit_log)
    if not log.path.exists():
        return []
    verification = log.verify()
    if not verification.ok:
        raise IntegrityRefusal(
            f"audit log {log.path} failed verification at line {verification.line}: {verification.problem}"
        )
    seen: dict[str, Approval] = {}
    for record in log.records():
        if record.event == APPROVAL_EVENT and record.data.get("plan_checksum") == plan_checksum:
            seen.setdefault(record.actor, Approval(record.actor, record.at, plan_checksum))
    return list(seen.values())


def approve(
    plan: RollbackPlan, *, approver: str, audit_log: str | Path | AuditLog, comment: str = ""
) -> Approval:
    """Record ``approver``'s approval of ``plan`` (who, when, the plan's checksum). One per person per plan."""
    if not approver.strip():
        raise BadInputError("an approval needs the approver's name")
    if any(a.approver == approver for a in approvals_for(plan.checksum, audit_log=audit_log)):
        raise BadInputError(f"{approver} has already approved plan {plan.checksum[:12]}")
    record = open_audit_log(audit_log).append(
        APPROVAL_EVENT,
        actor=approver,
        data={"plan_checksum": plan.checksum, "snapshot": plan.snapshot_id, "comment": comment},
    )
    return Approval(approver, record.at, plan.checksum)


def other_plans_note(plan: RollbackPlan, *, audit_log: str | Path | AuditLog) -> str:
    """'; approvals of other plans do not count (...)' when the log holds any, else ''."""
    log = open_audit_log(audit_log)
    if not log.path.exists():
        return ""
    others = sorted(
        {
            (str(r.data.get("plan_checksum", ""))[:12], r.actor)
            for r in log.records()
            if r.event == APPROVAL_EVENT and r.data.get("plan_checksum") != plan.checksum
        }
    )
    if not others:
        return ""
    listed = ", ".join(f"{actor} for plan {checksum}" for checksum, actor in others)
    return f"; approvals of other plans do not count ({listed})"


def require_approvals(plan: RollbackPlan, *, audit_log: str | Path | AuditLog) -> list[Approval]:
    found = approvals_for(plan.checksum, audit_log=audit_log)
    if len(found) < plan.approvals_required:
        raise IntegrityRefusal(
            f"rollback refused: plan {plan.checksum[:12]} has {len(found)} approval(s) from distinct approvers "
            f"({', '.join(a.approver for a in found) or 'none'}); {plan.approvals_required} required"
            f"{other_plans_note(plan, audit_log=audit_log)}"
        )
    return found
