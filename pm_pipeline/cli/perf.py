"""`pm-pipeline perf`: run a query workload on source and target and report its regressions.

Exit codes as for `check`: 0 no regression (warnings allowed), 1 regressions or different answers
found, 2 bad input, 3 a system failed or a query could not run (incomplete).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pm_pipeline.cli.common import remember_secrets
from pm_pipeline.core.errors import BadInputError

if TYPE_CHECKING:
    from pm_pipeline.core.config import MigrationSpec
    from pm_pipeline.core.perf import PerfResult
    from pm_pipeline.core.run import CheckResult

# The engines, numpy and scipy load when the command runs, never while the parser is built.


def _repetitions(value: str) -> str | int:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number of runs, got {value!r}") from None


def add_perf_parser(commands: Any) -> None:
    perf = commands.add_parser(
        "perf", help="time a query workload on source and target; exit 1 on regressions"
    )
    where = perf.add_mutually_exclusive_group(required=True)
    where.add_argument("--spec", type=Path, help="migration spec (YAML) with a performance section")
    where.add_argument("--source", help="source connection URL (with --target and --query: no spec needed)")
    perf.add_argument("--target", help="target connection URL")
    perf.add_argument(
        "--query", action="append", default=[], metavar="SQL", help="a query of the workload (repeatable)"
    )
    perf.add_argument("--repetitions", type=_repetitions, help="timed runs per side, or 'auto'")
    perf.add_argument(
        "--allow-hypopg",
        action="store_true",
        help="may create the hypopg extension on a PostgreSQL target to prove index advice (dropped after)",
    )
    perf.add_argument("--json", type=Path, help="write the findings JSON (with per-query figures) here")
    perf.add_argument("--reports", type=Path, help="write every report format into this folder")
    perf.add_argument(
        "--apply",
        action="store_true",
        help="create the advised indexes on the target (PostgreSQL, CONCURRENTLY) once the index plan "
        "has the approvals a rollback needs; audited before and after",
    )
    perf.add_argument(
        "--approve", metavar="CHECKSUM", help="approve the index plan with this checksum (no workload runs)"
    )
    perf.add_argument("--approver", help="who approves (with --approve)")
    perf.add_argument("--comment", default="", help="recorded with the approval")
    perf.add_argument(
        "--sign-with", type=Path, help="your SSH private key (when rollback.allowed_signers is set)"
    )


def _spec(args: argparse.Namespace) -> tuple[MigrationSpec, str]:
    from pm_pipeline.core.config import Endpoint, MigrationSpec, load_spec, spec_checksum

    overrides: dict[str, Any] = {}
    if args.repetitions is not None:
        overrides["repetitions"] = args.repetitions
    if args.allow_hypopg:
        overrides["allow_hypopg"] = True
    if args.spec is not None:
        if args.query or args.target:
            raise BadInputError("pm-pipeline perf: --spec takes its workload and URLs from the spec")
        spec = load_spec(args.spec)
        remember_secrets(spec.source.url, spec.source.replica_url or "", spec.target.url)
        if spec.performance is None:
            raise BadInputError(f"{args.spec}: no 'performance' section: nothing to run")
        settings = spec.performance
        checksum = spec_checksum(args.spec)
    else:
        if not args.target:
            raise BadInputError("pm-pipeline perf: --source needs --target")
        if not args.query:
            raise BadInputError("pm-pipeline perf: give the workload with --query SQL (or use --spec)")
        settings = _settings(
            {"workload": [{"name": f"query_{n}", "sql": sql} for n, sql in enumerate(args.query, 1)]}
        )
        spec = MigrationSpec(
            source=Endpoint(url=args.source), target=Endpoint(url=args.target), performance=settings
        )
        checksum = "no-spec"
    if overrides:
        settings = _settings({**settings.model_dump(), **overrides})
        spec = spec.model_copy(update={"performance": settings})
    return spec, checksum


def _settings(data: dict[str, Any]) -> Any:
    """The workload from the command line, each mistake named as in a spec."""
    from pydantic import ValidationError

    from pm_pipeline.core.config.messages import describe_error, location_text
    from pm_pipeline.core.config.performance import PerformanceSettings

    try:
        return PerformanceSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{location_text(tuple(error['loc'])) or 'performance'}: {describe_error(error)}"
            for error in exc.errors()
        )
        raise BadInputError(f"pm-pipeline perf: {problems}") from None


def run_perf(args: argparse.Namespace) -> int:
    from pm_pipeline.cli.common import exit_code
    from pm_pipeline.cli.perf_apply import approve_index_plan, run_apply

    if (args.apply or args.approve) and args.spec is None:
        raise BadInputError(
            "pm-pipeline perf: --apply and --approve need --spec (its rollback section names the approvals "
            "and the audit log)"
        )
    if args.approve:
        return approve_index_plan(args)
    spec, checksum = _spec(args)
    json_path = None if args.json is None else args.json.expanduser().absolute()
    reports_dir = None if args.reports is None else args.reports.expanduser().absolute()
    if json_path is not None and json_path.is_dir():
        raise BadInputError(f"--json {json_path}: is a folder; name the file to write")
    result, perf = _run(spec)
    from rich.console import Console

    print_perf(perf, result, Console(file=sys.stdout, width=140))
    _write(result, perf, checksum=checksum, json_path=json_path, reports_dir=reports_dir)
    if args.spec is not None:
        run_apply(args, spec, perf)
    return exit_code(result.verdict.state)


def _run(spec: MigrationSpec) -> tuple[CheckResult, PerfResult]:
    import datetime as dt

    from pm_pipeline.core.connectors import open_endpoint
    from pm_pipeline.core.perf import run_workload
    from pm_pipeline.core.perf.refusals import values_may_be_hidden
    from pm_pipeline.core.run import CheckResult

    assert spec.performance is not None
    started = dt.datetime.now(dt.UTC)
    names = {m.source: m.target_name for m in spec.tables}
    # Opened as a check opens them: the spec's timeouts, and the source's replica and readers.
    with open_endpoint(spec.source) as source, open_endpoint(spec.target) as target:
        perf = run_workload(
            spec.performance,
            source=source,
            target=target,
            target_names=names,
            withhold=values_may_be_hidden(spec),
        )
        result = CheckResult.ended(
            spec,
            started=started,
            source=source,
            target=target,
            findings=perf.findings,
            linked=True,
            performance=perf,
        )
    return result, perf


def _write(
    result: CheckResult, perf: PerfResult, *, checksum: str, json_path: Path | None, reports_dir: Path | None
) -> None:
    from pm_pipeline.core.report import ReportFormat, write_reports
    from pm_pipeline.core.run import check_report

    report = check_report(result, spec_checksum=checksum, launched_by=f"cli:{getpass.getuser()}")
    if reports_dir is not None:
        from pm_pipeline.core.report.report_set import new_run_id, publish_report_set, staged_report_set

        # A report set as `check` writes one: staged privately, its manifest last, renamed into place.
        with staged_report_set(root=reports_dir, run_id=new_run_id()) as staged:
            write_reports(report, directory=staged.directory)
            figures = json.dumps(perf.to_json(), indent=2, ensure_ascii=False) + "\n"
            (staged.directory / "performance.json").write_text(figures, encoding="utf-8")
            metadata = {"spec_name": report.run.spec_name, "verdict": str(report.verdict)}
            published = publish_report_set(staged, metadata=metadata)
        print(f"reports: {published}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the destination, then renamed over it: whole or absent.
        with tempfile.TemporaryDirectory(dir=json_path.parent, prefix=".pm-pipeline-") as scratch:
            written = write_reports(report, directory=Path(scratch), formats=[ReportFormat.JSON])
            written[ReportFormat.JSON].replace(json_path)
        print(f"json: {json_path}")


def _ms(value: float) -> str:
    return f"{value * 1000:,.2f}"


def print_perf(perf: PerfResult, result: CheckResult, console: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    from pm_pipeline.core.verdict import VerdictState

    table = Table(title=escape(f"{result.spec.name}: {result.source_url} -> {result.target_url}"))
    for heading in ("query", "source p50 ms", "target p50 ms", "ratio", "p", "source plan", "target plan"):
        table.add_column(
            heading, justify="left" if heading in ("query", "source plan", "target plan") else "right"
        )
    for query in perf.queries:
        src, tgt, cmp = query.source, query.target, query.comparison
        table.add_row(
            escape(query.name),
            "" if src is None else f"{_ms(src.p50)} [{_ms(src.p50_ci.low)}-{_ms(src.p50_ci.high)}]",
            "" if tgt is None else f"{_ms(tgt.p50)} [{_ms(tgt.p50_ci.low)}-{_ms(tgt.p50_ci.high)}]",
            "" if cmp is None else f"{cmp.ratio:,.2f}",
            "" if cmp is None else f"{cmp.p_value:.2g}",
            escape(_plan_text(query.source_plan)),
            escape(_plan_text(query.target_plan)),
        )
    console.print(table)
    for name, reason in perf.skipped:
        console.print(f"[dim]captured {escape(name)} not run: {escape(reason)}[/]")
    colour = {"error": "red", "warning": "yellow", "info": "cyan"}
    for finding in result.findings:
        style = colour[str(finding.severity)]
        console.print(
            f"[{style}]{finding.severity}[/] [bold]{escape(str(finding.category))}[/]: {escape(finding.message)}"
        )
    state = result.verdict.state
    if state is VerdictState.INCOMPLETE:
        console.print("[red]INCOMPLETE[/]: a query could not run on both sides")
    elif state is VerdictState.FAIL:
        console.print("[red]FAIL[/]: performance regressions or different answers found")
    elif state is VerdictState.PASS_WITH_WARNINGS:
        console.print("[yellow]PASS[/] with warnings")
    else:
        console.print("[green]PASS[/]: no regression")


def _plan_text(plan: Any) -> str:
    if plan is None:
        return "-"
    return ", ".join(f"{t.table}: {t.label}" for t in plan.tables) or "-"
