"""`pm-pipeline rollback approve`, `rollback execute` and `rollback status`: approvals, the restore, its record."""

from __future__ import annotations

import argparse
import json
import re
from typing import TYPE_CHECKING, Any

from pm_pipeline.cli.common import EXIT_DIFFERENCES, EXIT_OK, mask_url
from pm_pipeline.cli.rollback_context import RollbackContext, build_plan, snapshot_folder
from pm_pipeline.core.errors import BadInputError, IntegrityRefusal
from pm_pipeline.core.security.audit import AuditRecord

if TYPE_CHECKING:
    from pm_pipeline.core.rollback import RollbackPlan

_CHECKSUM = re.compile(r"^[0-9a-f]{12,64}$")


def _saved_plan(ctx: RollbackContext, checksum: str) -> dict[str, Any]:
    wanted = checksum.strip().lower()
    if not _CHECKSUM.match(wanted):
        raise BadInputError(
            f"--plan-checksum {checksum!r}: expected the plan's SHA-256 as printed by `pm-pipeline rollback "
            "plan` (hex, at least its first 12 digits)"
        )
    matches = sorted(ctx.plans_dir.glob(f"{wanted}*.json")) if ctx.plans_dir.exists() else []
    if not matches:
        raise BadInputError(
            f"no plan with checksum {wanted} in {ctx.plans_dir}; review one first with "
            f"`pm-pipeline rollback plan --spec {ctx.spec_path}`"
        )
    if len(matches) > 1:
        raise BadInputError(
            f"--plan-checksum {wanted} matches {len(matches)} plans in {ctx.plans_dir}; give more digits"
        )
    try:
        document = json.loads(matches[0].read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BadInputError(f"plan file {matches[0]} is not valid JSON ({exc})") from None
    missing = [key for key in ("plan_checksum", "snapshot_dir", "snapshot_id") if key not in document]
    if missing:
        raise BadInputError(f"plan file {matches[0]}: missing {', '.join(missing)}")
    return dict(document)


def approve_command(ctx: RollbackContext, args: argparse.Namespace) -> int:
    from pm_pipeline.core.rollback import approvals_for, approve

    saved = _saved_plan(ctx, args.plan_checksum)
    plan = build_plan(ctx, saved["snapshot_dir"])
    if plan.checksum != saved["plan_checksum"]:
        raise IntegrityRefusal(
            f"plan {saved['plan_checksum'][:12]} no longer matches: snapshot {saved['snapshot_id']} now plans "
            f"as {plan.checksum[:12]} (the spec's target, approvals or hooks, or the snapshot changed); "
            "review the new plan with `pm-pipeline rollback plan` and approve that one"
        )
    approval = approve(
        plan, approver=args.approver, audit_log=ctx.log, comment=args.comment, sign_with=args.sign_with
    )
    found = approvals_for(plan.checksum, audit_log=ctx.log, allowed_signers=plan.allowed_signers)
    signed = f", signed by the key of {approval.identity}" if approval.signed else ""
    print(f"plan {plan.checksum} approved by {approval.approver} at {approval.at}{signed}")
    print(
        f"approvals: {len(found)} of {plan.approvals_required} from distinct approvers "
        f"({', '.join(a.approver for a in found)})"
    )
    return EXIT_OK


def _require_approvals(ctx: RollbackContext, plan: RollbackPlan, actor: str) -> None:
    from pm_pipeline.core.rollback import approvals_for
    from pm_pipeline.core.rollback.approvals import other_plans_note

    found = approvals_for(plan.checksum, audit_log=ctx.log, allowed_signers=plan.allowed_signers)
    if len(found) >= plan.approvals_required:
        return
    names = ", ".join(a.approver for a in found) or "none"
    message = (
        f"rollback refused: plan {plan.checksum[:12]} has {len(found)} of {plan.approvals_required} required "
        f"approvals from distinct approvers ({names}){other_plans_note(plan, audit_log=ctx.log)}; nothing was written. "
        f"Approve with: pm-pipeline rollback approve --spec {ctx.spec_path} --plan-checksum {plan.checksum} "
        "--approver NAME"
    )
    ctx.log.append("rollback.refused", actor=actor, data={"plan_checksum": plan.checksum, "reason": message})
    raise IntegrityRefusal(message)


def execute_command(ctx: RollbackContext, args: argparse.Namespace) -> int:
    from pm_pipeline.core.rollback import approvals_for, run_step

    plan = build_plan(ctx, snapshot_folder(ctx, args.snapshot))
    dry_run = not args.yes
    print(f"plan {plan.checksum} (snapshot {plan.snapshot_id}) on {mask_url(plan.target_url)}")
    if not dry_run:
        _require_approvals(ctx, plan, args.actor)
    print(
        "dry run: every step reads and checks, nothing is written to the target" if dry_run else "executing:"
    )
    exports = plan.export_dir
    for step in plan.steps:
        result = run_step(
            plan, step, audit_log=ctx.log, export_dir=exports, dry_run=dry_run, actor=args.actor
        )
        print(f"  {result.name}: {result.status}: {result.detail}")
        for statement in result.sql if dry_run or step.destructive else ():
            print(f"       {statement}")
    if dry_run:
        found = approvals_for(plan.checksum, audit_log=ctx.log, allowed_signers=plan.allowed_signers)
        print(
            f"nothing was written; {len(found)} of {plan.approvals_required} approvals. "
            "Run again with --yes to restore."
        )
    else:
        print(f"restored {len(plan.load_order)} table(s); their checksums match the snapshot's")
        print(f"rows changed since the snapshot were exported to {exports}")
    return EXIT_OK


def _describe(record: AuditRecord) -> str:
    data = record.data
    parts = [str(data[k]) for k in ("step", "status", "detail", "error") if data.get(k) not in (None, "")]
    if data.get("dry_run"):
        parts.append("(dry run)")
    checksum = str(data.get("plan_checksum", ""))[:12]
    return f"{record.at}  {record.actor}  {record.event}  {checksum}  {' '.join(parts)}".rstrip()


def _print_approvals(records: list[AuditRecord]) -> None:
    from pm_pipeline.core.security.identity import normalise_identity

    by_plan: dict[str, list[AuditRecord]] = {}
    for record in records:
        by_plan.setdefault(str(record.data.get("plan_checksum")), []).append(record)
    print("approvals:" if by_plan else "approvals: none")
    for checksum, given in by_plan.items():
        people = {normalise_identity(str(r.data.get("identity") or r.actor)) for r in given}
        print(f"  plan {checksum}: {len(people)} distinct approver(s) by name")
        for record in given:
            comment = f": {record.data['comment']}" if record.data.get("comment") else ""
            signed = " (signed)" if record.data.get("signature") else ""
            print(f"    {record.actor} at {record.at}{signed}{comment}")


def status_command(ctx: RollbackContext, args: argparse.Namespace) -> int:
    from pm_pipeline.core.rollback import approvals_for
    from pm_pipeline.core.rollback.approvals import APPROVAL_EVENT
    from pm_pipeline.core.rollback.snapshot import latest_snapshot

    if not ctx.audit_log.exists():
        print(f"no audit log at {ctx.audit_log} yet: nothing snapshotted, planned, approved or run")
        return EXIT_OK
    verification = ctx.log.verify()
    if not verification.ok:
        print(f"{ctx.audit_log}: line {verification.line}: {verification.problem}; approvals do not count")
        return EXIT_DIFFERENCES
    print(f"audit log {ctx.audit_log}: {verification.records} record(s), chain intact")
    records = list(ctx.log.records())
    try:
        current = build_plan(ctx, latest_snapshot(ctx.snapshot_root))
        found = approvals_for(current.checksum, audit_log=ctx.log, allowed_signers=current.allowed_signers)
        print(
            f"current plan {current.checksum} (snapshot {current.snapshot_id}): {len(found)} of "
            f"{current.approvals_required} approvals"
        )
    except BadInputError as exc:
        print(f"no current plan: {exc}")
    _print_approvals([r for r in records if r.event == APPROVAL_EVENT])
    others = [r for r in records if r.event != APPROVAL_EVENT]
    steps = others[-args.last :] if args.last > 0 else []
    print(f"last {len(steps)} record(s):" if steps else "no steps recorded yet")
    for record in steps:
        print(f"  {_describe(record)}")
    return EXIT_OK
