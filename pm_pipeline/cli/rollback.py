"""`pm-pipeline rollback`: snapshot, plan (with its risk), approve, execute and status.

Every command reads the spec's ``rollback`` section: where snapshots and the audit log live, which
tables are covered and how many approvals a run needs. Relative paths there resolve against the
current directory, as in the Dagster rollback job, so both see the same snapshots and approvals.
Reviewed plans are kept as JSON beside the audit log (``plans/<checksum>.json``); rows changed
since a snapshot are exported to ``<snapshot>/exports``, as the Dagster job does.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pm_pipeline.cli.common import current_user, table_list
from pm_pipeline.cli.rollback_approve import approve_command, execute_command, status_command
from pm_pipeline.cli.rollback_context import require_intact_log, rollback_context
from pm_pipeline.cli.rollback_plan import plan_command, snapshot_command

# The spec loader and the rollback modules (pyarrow, the canonical layer) are imported inside the
# commands, so that registering these sub-commands costs the other commands nothing.


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
        "snapshot": snapshot_command,
        "plan": plan_command,
        "approve": approve_command,
        "execute": execute_command,
        "status": status_command,
    }
    ctx = rollback_context(args.spec)
    if args.rollback_command != "status":  # status reports a broken log itself (exit 1)
        require_intact_log(ctx.log)
    return handlers[args.rollback_command](ctx, args)
