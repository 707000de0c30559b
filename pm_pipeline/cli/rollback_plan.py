"""`pm-pipeline rollback snapshot` and `rollback plan`: what a restore would start from, and what it would do."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pm_pipeline.cli.common import EXIT_OK, mask_url
from pm_pipeline.cli.rollback_context import RollbackContext, build_plan, print_table, snapshot_folder

if TYPE_CHECKING:
    from pm_pipeline.core.rollback import RiskAssessment, RollbackPlan


def snapshot_command(ctx: RollbackContext, args: argparse.Namespace) -> int:
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
    print_table(
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
    print_table(
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


def _plan_document(plan: RollbackPlan, risk: RiskAssessment, ctx: RollbackContext) -> dict[str, Any]:
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


def plan_command(ctx: RollbackContext, args: argparse.Namespace) -> int:
    from pm_pipeline.core.rollback import approvals_for, assess_risk, verify_snapshot

    folder = snapshot_folder(ctx, args.snapshot)
    manifest = verify_snapshot(folder)
    plan = build_plan(ctx, folder)
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
