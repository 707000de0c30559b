"""`pm-pipeline check`: its options, and the run from parsed arguments to exit code."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pm_pipeline.cli.common import CHECK_STRATEGIES, exit_code, table_list, timeout_option
from pm_pipeline.core.errors import BadInputError

if TYPE_CHECKING:
    from pm_pipeline.core.security.audit import AuditLog


def add_check_parser(commands: Any) -> None:
    """Register ``check`` on the top-level sub-parsers."""
    check = commands.add_parser("check", help="reconcile source and target; exit 1 when they differ")
    where = check.add_mutually_exclusive_group(required=True)
    where.add_argument("--spec", type=Path, help="migration spec (YAML)")
    where.add_argument("--source", help="source connection URL (with --target: no spec needed)")
    check.add_argument("--target", help="target connection URL")
    check.add_argument("--tables", type=table_list, help="only these source tables (comma-separated)")
    check.add_argument("--json", type=Path, help="write the findings JSON here")
    check.add_argument("--html", type=Path, help="write the technical HTML report here")
    check.add_argument(
        "--reports",
        type=Path,
        help="report sets go here, one folder per run and 'latest' pointing at the newest "
        "(default: the spec's reports.directory, else ./pm-reports, unless --json/--html name the only files wanted)",
    )
    check.add_argument("--no-reports", action="store_true", help="write no report set")
    check.add_argument(
        "--format",
        choices=("table", "json", "quiet"),
        default="table",
        help="console output: the summary and the findings grouped (table), one JSON document, "
        "or the verdict and the reports' folder only (quiet)",
    )
    check.add_argument("--no-progress", action="store_true", help="no progress display")
    check.add_argument(
        "--no-integrity",
        action="store_true",
        help="reconcile and compare schemas only (no integrity checks, checksum manifest or GX suites)",
    )
    check.add_argument(
        "--timeout",
        type=timeout_option,
        action="append",
        default=[],
        metavar="NAME=DURATION",
        help="override a connection timeout of both sides: connect, statement, idle or lock "
        "(e.g. --timeout idle=30s --timeout statement=10m; 0 for no limit)",
    )
    check.add_argument(
        "--strategy",
        choices=CHECK_STRATEGIES,
        default="auto",
        help="how tables are compared (default: each table's spec setting, else chosen by size and engines)",
    )
    check.add_argument(
        "--runs-per-source",
        type=int,
        default=None,
        help="at most this many checks at once against the source database, across processes "
        "(default: PM_RUNS_PER_SOURCE, else no limit); the others wait",
    )
    check.add_argument(
        "--slot-wait",
        type=float,
        default=600.0,
        help="seconds to wait for a free slot before giving up (exit 3)",
    )


def run_check_command(args: argparse.Namespace) -> int:
    from pm_pipeline.cli.audit import audited_failure
    from pm_pipeline.cli.check_run import run_cli_check
    from pm_pipeline.cli.workspace import source_limit

    if args.source and not args.target:
        raise BadInputError("pm-pipeline check: --source needs --target")
    if args.target and not args.source:
        raise BadInputError("pm-pipeline check: --target needs --source (or use --spec)")
    if args.no_reports and args.reports:
        raise BadInputError("pm-pipeline check: --no-reports and --reports contradict each other")
    audit_log = _check_audit_log(args.spec)
    with audited_failure(audit_log, args=args), source_limit(args):
        run = run_cli_check(
            spec_path=args.spec,
            source_url=args.source,
            target_url=args.target,
            tables=args.tables,
            json_path=args.json,
            html_path=args.html,
            reports_dir=args.reports,
            show_progress=not args.no_progress and sys.stderr.isatty(),
            strategy=args.strategy,
            integrity=not args.no_integrity,
            write_reports_set=not args.no_reports,
            output_format=args.format,
            timeouts=dict(args.timeout),
        )
    if audit_log is not None:
        from pm_pipeline.cli.audit import record_cli_check

        record_cli_check(audit_log, args=args, verdict=str(run.state), report_sets=run.report_sets)
    return exit_code(run.state)


def _check_audit_log(spec_path: Path | None) -> AuditLog | None:
    """The log a check run is recorded in (the spec's ``audit.log``), resolved before the run so a
    missing key fails fast."""
    if spec_path is None:
        return None
    from pm_pipeline.cli.audit import check_audit_log
    from pm_pipeline.core.config import load_spec

    return check_audit_log(load_spec(spec_path), spec_path=spec_path)
