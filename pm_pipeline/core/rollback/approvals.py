"""Approvals of a rollback plan, recorded in the keyed audit log and counted from it, one per person.

A person is their normalised name (case, white space and Unicode spellings count once). When the
plan names an ``allowed_signers`` file, a person is the principal of the SSH key that signed the
approval, and an approval without a valid signature does not count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pm_pipeline.core.errors import BadInputError, IntegrityRefusal
from pm_pipeline.core.rollback.plan import RollbackPlan
from pm_pipeline.core.security.audit import AuditLog, AuditRecord, open_audit_log
from pm_pipeline.core.security.identity import approval_message, normalise_identity, sign, signer

APPROVAL_EVENT = "rollback.approved"
INDEX_PLAN = "index_plan"  # the ``kind`` recorded with an approval of `perf --apply`'s index plan


@dataclass(frozen=True)
class Approval:
    approver: str  # as typed
    at: str
    plan_checksum: str
    identity: str = ""  # who counts: the normalised name, or the signing key's principal
    signed: bool = False


def _chain_of(log: AuditLog) -> str:
    """The chain an approval is signed into: the log's first record, '' for an empty log."""
    return next((record.hash for record in log.records()), "")


def _identity(
    record: AuditRecord, *, chain: str, plan_checksum: str, allowed_signers: Path | None
) -> str | None:
    """Who ``record`` counts as, or None when it does not count (unsigned or badly signed)."""
    if allowed_signers is None:
        return normalise_identity(str(record.data.get("identity") or record.actor))
    signature = record.data.get("signature")
    if not isinstance(signature, str):
        return None
    # The first record of a log cannot name its own hash: it is signed into the chain ''.
    message = approval_message(plan_checksum=plan_checksum, chain=chain if record.seq > 0 else "")
    principal = signer(message, signature=signature, allowed_signers=allowed_signers)
    return None if principal is None else normalise_identity(principal)


def approvals_for(
    plan_checksum: str, *, audit_log: str | Path | AuditLog, allowed_signers: str | Path | None = None
) -> list[Approval]:
    """Approvals of exactly this plan, one per person. A tampered log counts nothing: it raises IntegrityRefusal."""
    log = open_audit_log(audit_log)
    if not log.path.exists():
        return []
    verification = log.verify()
    if not verification.ok:
        raise IntegrityRefusal(
            f"audit log {log.path} failed verification at line {verification.line}: {verification.problem}"
        )
    signers = None if allowed_signers is None else Path(allowed_signers)
    chain = _chain_of(log)
    seen: dict[str, Approval] = {}
    for record in log.records():
        if record.event != APPROVAL_EVENT or record.data.get("plan_checksum") != plan_checksum:
            continue
        identity = _identity(record, chain=chain, plan_checksum=plan_checksum, allowed_signers=signers)
        if identity:
            seen.setdefault(
                identity, Approval(record.actor, record.at, plan_checksum, identity, signers is not None)
            )
    return list(seen.values())


def approve(
    plan: RollbackPlan,
    *,
    approver: str,
    audit_log: str | Path | AuditLog,
    comment: str = "",
    sign_with: Path | None = None,
) -> Approval:
    """Record ``approver``'s approval of ``plan`` (who, when, the plan's checksum). One per person per plan.

    When the plan names an ``allowed_signers`` file the approval is signed with the private key
    ``sign_with`` (ssh-keygen -Y sign) and the approver is that key's principal."""
    return approve_checksum(
        plan.checksum,
        approver=approver,
        audit_log=audit_log,
        allowed_signers=plan.allowed_signers,
        details={"snapshot": plan.snapshot_id},
        comment=comment,
        sign_with=sign_with,
    )


def approve_checksum(
    plan_checksum: str,
    *,
    approver: str,
    audit_log: str | Path | AuditLog,
    allowed_signers: str | Path | None,
    details: dict[str, object] | None = None,
    comment: str = "",
    sign_with: Path | None = None,
) -> Approval:
    """Record an approval of any reviewed plan named by its checksum (a rollback's, an index plan's):
    the same record, signature and one-per-person rule, so every write behind approvals counts them
    the same way. ``details`` are recorded with it (checksums and names, never values)."""
    identity = normalise_identity(approver)
    if not identity:
        raise BadInputError("an approval needs the approver's name")
    log = open_audit_log(audit_log)
    data: dict[str, object] = {"plan_checksum": plan_checksum, **(details or {}), "comment": comment}
    if allowed_signers is not None:
        if sign_with is None:
            raise BadInputError(
                f"plan {plan_checksum[:12]} counts signed approvals only (rollback.allowed_signers "
                f"{allowed_signers}): approve with --sign-with YOUR_SSH_PRIVATE_KEY"
            )
        message = approval_message(plan_checksum=plan_checksum, chain=_chain_of(log))
        signature = sign(message, key_file=sign_with)
        principal = signer(message, signature=signature, allowed_signers=Path(allowed_signers))
        if principal is None:
            raise BadInputError(
                f"--sign-with {sign_with}: its key is not listed in {allowed_signers}, so its approval "
                "would not count"
            )
        identity = normalise_identity(principal)
        data.update(identity=identity, signature=signature)
    else:
        data["identity"] = identity
    found = approvals_for(plan_checksum, audit_log=log, allowed_signers=allowed_signers)
    same = [a for a in found if a.identity == identity]
    if same:
        raise BadInputError(
            f"{approver} has already approved plan {plan_checksum[:12]} (as {same[0].approver!r}, "
            f"at {same[0].at}): one approval per person"
        )
    record = log.append(APPROVAL_EVENT, actor=approver, data=data)
    return Approval(approver, record.at, plan_checksum, identity, allowed_signers is not None)


def other_plans_note(plan: RollbackPlan, *, audit_log: str | Path | AuditLog) -> str:
    """'; approvals of other plans do not count (...)' when the log holds any, else ''."""
    log = open_audit_log(audit_log)
    if not log.path.exists():
        return ""
    others = sorted(
        {
            (str(r.data.get("plan_checksum", ""))[:12], r.actor)
            for r in log.records()
            if r.event == APPROVAL_EVENT
            and r.data.get("plan_checksum") != plan.checksum
            and r.data.get("kind") != INDEX_PLAN  # an index plan's approvals are no rollback's
        }
    )
    if not others:
        return ""
    listed = ", ".join(f"{actor} for plan {checksum}" for checksum, actor in others)
    return f"; approvals of other plans do not count ({listed})"


def require_approvals(plan: RollbackPlan, *, audit_log: str | Path | AuditLog) -> list[Approval]:
    found = approvals_for(plan.checksum, audit_log=audit_log, allowed_signers=plan.allowed_signers)
    if len(found) < plan.approvals_required:
        kind = (
            "signed approval(s) by distinct key holders"
            if plan.allowed_signers
            else "approval(s) from distinct approvers"
        )
        raise IntegrityRefusal(
            f"rollback refused: plan {plan.checksum[:12]} has {len(found)} {kind} "
            f"({', '.join(a.approver for a in found) or 'none'}); {plan.approvals_required} required"
            f"{other_plans_note(plan, audit_log=audit_log)}"
        )
    return found
