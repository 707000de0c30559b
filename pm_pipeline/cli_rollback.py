"""`pm-pipeline rollback`: snapshot, plan (with its risk), approve, execute and status.

Every command reads the spec's ``rollback`` section: where snapshots and the audit log live, which
tables are covered and how many approvals a run needs. Relative paths there resolve against the
current directory, as in the Dagster rollback job, so both see the same snapshots and approvals.
Reviewed plans are kept as JSON beside the audit log (``plans/<checksum>.json``); rows changed
since a snapshot are exported to ``<snapshot>/exports``, as the Dagster job does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pm_pipeline.cli import EXIT_DIFFERENCES, EXIT_OK, current_user, mask_url, remember_secrets, table_list
from pm_pipeline.core.errors import BadInputError, IntegrityRefusal
from pm_pipeline.core.security.audit import AuditLog, AuditRecord

if TYPE_CHECKING:
    from pm_pipeline.core.config import MigrationSpec
    from pm_pipeline.core.rollback import RiskAssessment, RollbackPlan, RollbackSettings

# The spec loader and the rollback modules (pyarrow, the canonical layer) are imported inside the
# commands, so that registering these sub-commands costs the other commands nothing.
_CHECKSUM = re.compile(r"^[0-9a-f]{12,64}$")


@dataclass(frozen=True)
class _Context:
    spec_path: Path
    spec: MigrationSpec
    settings: RollbackSettings
    snapshot_root: Path
    log: AuditLog  # keyed and anchored as the spec's audit section says

    @property
    def audit_log(self) -> Path:
        return self.log.path

    @property
    def plans_dir(self) -> Path:
        return self.audit_log.parent / "plans"


def _context(spec_path: Path) -> _Context:
    from pm_pipeline.core.config import load_spec
    from pm_pipeline.core.rollback import parse_rollback

    spec = load_spec(spec_path)
    remember_secrets(spec.source.url, spec.target.url)
    from pm_pipeline.core.security.settings import spec_audit_log

    settings = parse_rollback(spec.rollback, file=str(spec_path))
    log = spec_audit_log(spec, file=str(spec_path), origin="cli", for_rollback=True)
    assert log is not None  # the rollback commands always have a log
    if log.config.anchor_url:
        remember_secrets(log.config.anchor_url)
    return _Context(spec_path, spec, settings, Path(settings.snapshot_dir), log)


def add_rollback_parser(commands: Any) -> None:
    """Register ``rollback`` and its sub-commands on the top-level sub-parsers."""
    rollback = commands.add_parser("rollback", help="snapshot, plan, approve and execute a rollback")
    sub = rollback.add_subparsers(
        dest="rollback_command",
        required=True,
        parser_class=type(rollback),
        metavar="{snapshot,plan,approve,execute,status}",
    )

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        parser.add_argument("--spec", type=Path, required=True, help="migration spec (YAML)")
        return parser

    snapshot = command("snapshot", "snapshot the target tables and verify the snapshot")
    snapshot.add_argument("--tables", type=table_list, help="target tables (default: rollback.tables)")
    snapshot.add_argument("--out", type=Path, help="folder for the snapshot (default: rollback.snapshot_dir)")
    plan = command("plan", "show the ordered steps, their SQL and the risk; save the plan")
    approval = command("approve", "approve a reviewed plan by its checksum")
    approval.add_argument("--plan-checksum", required=True, help="checksum printed by `rollback plan`")
    approval.add_argument("--approver", required=True, help="who approves")
    approval.add_argument("--comment", default="", help="recorded with the approval")
    approval.add_argument(
        "--sign-with",
        type=Path,
        help="your SSH private key: signs the approval (required when rollback.allowed_signers is set)",
    )
    execute = command("execute", "dry run by default; with --yes restore the target")
    mode = execute.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="show the SQL, write nothing (the default)")
    mode.add_argument("--yes", action="store_true", help="restore the target (needs the approvals)")
    status = command("status", "approvals and the last steps from the audit log")
    status.add_argument("--last", type=int, default=15, help="how many step records to show")
    for parser in (plan, execute):
        parser.add_argument("--snapshot", type=Path, help="snapshot folder (default: the newest verified)")
    for parser in (snapshot, plan, execute):
        parser.add_argument(
            "--actor", default=current_user(), help="recorded in the audit log (default: you)"
        )


def run_rollback(args: argparse.Namespace) -> int:
    handlers = {
        "snapshot": _snapshot,
        "plan": _plan,
        "approve": _approve,
        "execute": _execute,
        "status": _status,
    }
    ctx = _context(args.spec)
    if args.rollback_command != "status":  # status reports a broken log itself (exit 1)
        _require_intact_log(ctx.log)
    return handlers[args.rollback_command](ctx, args)


def _require_intact_log(log: AuditLog) -> None:
    """Refuse to work on a broken audit log (a half-written last line after a crash, an edit):
    a record chained after it could not be verified, and approvals read from it cannot be trusted.
    Checked before anything is written, so a refused command leaves no snapshot or plan behind."""
    if not log.path.exists():
        return
    verification = log.verify()
    if not verification.ok:
        raise IntegrityRefusal(
            f"audit log {log.path}: line {verification.line}: {verification.problem}; nothing was done. "
            f"Repair or move the log, then check it with `pm-pipeline audit verify {log.path}`"
        )


def _snapshot_folder(ctx: _Context, given: Path | None) -> Path:
    from pm_pipeline.core.rollback.snapshot import latest_snapshot

    if given is not None:
        if not given.is_dir():
            raise BadInputError(f"--snapshot {given}: no such folder")
        return given
    return latest_snapshot(ctx.snapshot_root)


def _build(ctx: _Context, folder: Path | str) -> RollbackPlan:
    return ctx.settings.plan(folder, target_url=ctx.spec.target.url)


def _print_table(headings: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(headings, *rows, strict=True)]
    for row in [headings, *rows]:
        line = "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        print(f"  {line}".rstrip())


def _snapshot(ctx: _Context, args: argparse.Namespace) -> int:
    from pm_pipeline.core.rollback import create_snapshot

    tables = args.tables or ctx.settings.tables or [m.target_name for m in ctx.spec.tables]
    manifest = create_snapshot(
        ctx.spec.target.url,
        tables=tables,
        snapshot_dir=args.out or ctx.snapshot_root,
        audit=ctx.log,
        actor=args.actor,
        in_database=ctx.settings.in_database_snapshot,
    )
    print(f"snapshot {manifest.directory} of {mask_url(ctx.spec.target.url)} ({manifest.engine})")
    print(f"verified: {'yes' if manifest.verified else 'no'}: every file re-read and re-checksummed")
    if manifest.db_copy is not None:
        print(f"in-database copy: schema {manifest.db_copy.schema} (verified, used first by a restore)")
    _print_table(
        ["table", "rows", "canonical SHA-256", "file", "sequences (next value)"],
        [
            [t.name, f"{t.rows:,}", t.checksum, t.file,
             ", ".join(f"{s.name}={s.next_value}" for s in t.schema.sequences) or "-"]
            for t in manifest.tables
        ],
    )  # fmt: skip
    return EXIT_OK


def _print_steps(plan: RollbackPlan) -> None:
    print("steps:")
    for number, step in enumerate(plan.steps, start=1):
        after = f" (after {', '.join(step.depends_on)})" if step.depends_on else ""
        destructive = " [writes]" if step.destructive else ""
        print(f"  {number}. {step.name}{destructive}: {step.description}{after}")
        for statement in step.sql:
            print(f"       {statement}")


def _print_risk(risk: RiskAssessment) -> None:
    print(f"risk: {risk.level}")
    for reason in risk.reasons:
        print(f"  - {reason}")
    _print_table(
        ["table", "snapshot rows", "current rows", "inserted", "updated", "deleted", "exported to"],
        [
            [t.table, f"{t.snapshot_rows:,}", f"{t.current_rows:,}", str(t.inserted), str(t.updated),
             str(t.deleted), t.export_file or "-"]
            for t in risk.tables
        ],
    )  # fmt: skip
    print(
        f"rows to delete and reinsert: {risk.rows_to_write:,}; estimated duration {risk.estimated_seconds:.1f} s "
        f"(measured {risk.measured_rows_per_second:,.0f} rows/s while comparing)"
    )
    print("locks:")
    for lock in risk.locks:
        print(f"  - {lock}")


def _plan_document(plan: RollbackPlan, risk: RiskAssessment, ctx: _Context) -> dict[str, Any]:
    return {
        "plan_checksum": plan.checksum,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "spec": str(ctx.spec_path),
        "snapshot_dir": plan.snapshot_dir,
        "snapshot_id": plan.snapshot_id,
        "target": mask_url(plan.target_url),
        "engine": plan.engine,
        "load_order": list(plan.load_order),
        "deferred_cycles": [list(c) for c in plan.deferred_cycles],
        "approvals_required": plan.approvals_required,
        "steps": [asdict(step) for step in plan.steps],
        "risk": {**asdict(risk), "changed_rows": risk.changed_rows},
    }


def _plan(ctx: _Context, args: argparse.Namespace) -> int:
    from pm_pipeline.core.rollback import approvals_for, assess_risk, verify_snapshot

    folder = _snapshot_folder(ctx, args.snapshot)
    manifest = verify_snapshot(folder)
    plan = _build(ctx, folder)
    print(f"snapshot {manifest.directory} ({manifest.created_at}): verified, {len(manifest.tables)} table(s)")
    print(f"target {mask_url(plan.target_url)} ({plan.engine})")
    print(f"foreign-key order (parents first): {' -> '.join(plan.load_order)}; emptied in reverse")
    for cycle in plan.deferred_cycles:
        print(f"foreign-key cycle restored with deferred checks: {', '.join(cycle)}")
    _print_steps(plan)
    risk = assess_risk(plan, export_dir=plan.export_dir)
    _print_risk(risk)
    ctx.plans_dir.mkdir(parents=True, exist_ok=True)
    path = ctx.plans_dir / f"{plan.checksum}.json"
    kept = _save_once(path, json.dumps(_plan_document(plan, risk, ctx), indent=2, default=str))
    ctx.log.append(
        "rollback.planned",
        actor=args.actor,
        data={"plan_checksum": plan.checksum, "snapshot": plan.snapshot_id, "risk": risk.level,
              "changed_rows": risk.changed_rows, "export_dir": risk.export_dir},
    )  # fmt: skip
    found = approvals_for(plan.checksum, audit_log=ctx.log, allowed_signers=plan.allowed_signers)
    if kept:
        # The plan is the same (same checksum); its saved risk is the first review's, which a rerun
        # after the restore (nothing left to export) must not replace. This review's is above.
        print(f"plan already saved at {path}: kept as first written")
    else:
        print(f"plan written to {path}")
    print(f"plan checksum: {plan.checksum}")
    print(
        f"approvals: {len(found)} of {plan.approvals_required}; approve with: pm-pipeline rollback approve "
        f"--spec {ctx.spec_path} --plan-checksum {plan.checksum} --approver NAME"
    )
    return EXIT_OK


def _save_once(path: Path, text: str) -> bool:
    """Write ``path`` whole, unless a file is already there: then leave it and return True."""
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(text)
    try:
        os.link(handle.name, path)  # atomic, and refused when the file exists: never replaced
    except FileExistsError:
        return True
    finally:
        os.unlink(handle.name)
    return False


def _saved_plan(ctx: _Context, checksum: str) -> dict[str, Any]:
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


def _approve(ctx: _Context, args: argparse.Namespace) -> int:
    from pm_pipeline.core.rollback import approvals_for, approve

    saved = _saved_plan(ctx, args.plan_checksum)
    plan = _build(ctx, saved["snapshot_dir"])
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


def _require_approvals(ctx: _Context, plan: RollbackPlan, actor: str) -> None:
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


def _execute(ctx: _Context, args: argparse.Namespace) -> int:
    from pm_pipeline.core.rollback import approvals_for, run_step

    plan = _build(ctx, _snapshot_folder(ctx, args.snapshot))
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


def _status(ctx: _Context, args: argparse.Namespace) -> int:
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
        current = _build(ctx, latest_snapshot(ctx.snapshot_root))
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
