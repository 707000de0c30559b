"""What `pm-pipeline check` does between parsing its arguments and choosing its exit code."""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console

from pm_pipeline.cli.console import (
    json_document,
    print_findings,
    print_json,
    print_paths,
    print_summary,
    print_verdict,
)
from pm_pipeline.cli.progress import TableBars, progress_bar
from pm_pipeline.cli.report_files import (
    at_published_place,
    default_reports_root,
    report_set_metadata,
    require_writable_folder,
    where_findings_are,
    write_report_files,
)
from pm_pipeline.cli.selection import check_spec, names_text, tables_from_flag, with_timeouts
from pm_pipeline.core.config import MigrationSpec
from pm_pipeline.core.errors import BadInputError, SystemFailure, TableNotFoundError
from pm_pipeline.core.reconcile import ReconcileOptions
from pm_pipeline.core.report.audiences import audience_root, audiences_of, collecting_spec, shown_audience
from pm_pipeline.core.report.report_set import (
    StagedSet,
    new_run_id,
    publish_report_set,
    staged_report_set,
)
from pm_pipeline.core.run import CheckResult, check_report, run_check
from pm_pipeline.core.verdict import VerdictState


@dataclasses.dataclass(frozen=True)
class CheckRun:
    """A check's verdict and the report sets it published (``""`` for its one set, else each
    audience's name): what the run wrote, whatever ``latest`` points at by the time it is read."""

    state: VerdictState
    report_sets: Mapping[str, Path] = dataclasses.field(default_factory=dict)


def run_cli_check(
    *,
    spec_path: Path | None,
    source_url: str | None,
    target_url: str | None,
    tables: Sequence[str] | None,
    json_path: Path | None,
    html_path: Path | None,
    reports_dir: Path | None,
    show_progress: bool,
    progress_console: Console | None = None,
    strategy: str = "auto",
    integrity: bool = True,
    write_reports_set: bool = True,
    output_format: str = "table",
    stdout: Console | None = None,
    timeouts: Mapping[str, str] | None = None,
) -> CheckRun:
    """Run a check, print what it found, write the requested files; the run's verdict and sets.

    The report set goes to ``reports_dir``; without it (and without ``--json``/``--html``, which
    ask for those files only) to the spec's ``reports.directory``, or ``./pm-reports`` with no
    spec, unless ``write_reports_set`` is false. See :mod:`pm_pipeline.core.report.report_set`.
    With ``show_progress`` and a terminal, a bar per table on ``progress_console`` (stderr by
    default); without, no row estimates are asked for (on some engines they cost a count)."""
    spec, checksum = check_spec(spec_path, source_url, target_url, tables)
    if timeouts:
        spec = with_timeouts(spec, timeouts)
    # Absolute before use: some writers (Great Expectations' Data Docs) refuse a relative folder.
    reports_dir, json_path, html_path = (
        None if path is None else path.expanduser().absolute() for path in (reports_dir, json_path, html_path)
    )
    if reports_dir is None and json_path is None and html_path is None and write_reports_set:
        reports_dir = default_reports_root(spec, spec_path=spec_path)
    for flag, path in (("--json", json_path), ("--html", html_path)):
        if path is not None and path.is_dir():
            raise BadInputError(f"{flag} {path}: is a folder; name the file to write")
    for flag, folder in (("--reports", reports_dir), ("--json", json_path), ("--html", html_path)):
        if folder is not None:
            require_writable_folder(flag, folder if flag == "--reports" else folder.parent)
    run_id = new_run_id()
    out = stdout or Console(file=sys.stdout, width=120)
    audiences = audiences_of(spec) if reports_dir is not None else ()
    launched_by = f"cli:{getpass.getuser()}"
    with contextlib.ExitStack() as stack:
        sets = {
            audience: stack.enter_context(
                staged_report_set(root=audience_root(reports_dir, audience), run_id=run_id)
            )
            for audience in audiences
            if reports_dir is not None
        }
        staged = (
            None
            if reports_dir is None
            else sets[audiences[-1]]
            if audiences
            else stack.enter_context(staged_report_set(root=reports_dir, run_id=run_id))
        )
        result = _run(
            collecting_spec(spec),
            staged,
            spec_path,
            tables,
            show_progress,
            progress_console,
            strategy,
            integrity,
        )
        if audiences:  # the console stays at the run's clearance, whatever the audiences see
            result = dataclasses.replace(result, spec=spec)
        elif staged is not None:
            result = at_published_place(result, staged)
        report = check_report(result, spec_checksum=checksum, launched_by=launched_by, run_id=run_id)
        # With audiences the console names the set at its own clearance, never a higher one.
        named_set = sets[shown_audience(audiences, spec.reports.clearance)] if audiences else staged
        where = where_findings_are(named_set, json_path, html_path)
        if output_format == "table":
            print_summary(result, out)
            print_findings(report, out, where=where)
        if output_format != "json":
            print_verdict(result, out)
        published: Path | None
        if audiences:
            from pm_pipeline.cli.audiences import print_audience_sets, write_audience_sets

            write_report_files(report, result, None, json_path=json_path, html_path=html_path)
            by_audience = write_audience_sets(
                result, sets, spec_checksum=checksum, launched_by=launched_by, run_id=run_id
            )
            published = by_audience[shown_audience(audiences, spec.reports.clearance)]
            report_sets = {str(audience): path for audience, path in by_audience.items()}
            written = {f"reports ({audience})": path for audience, path in by_audience.items()}
            if output_format != "json":
                print_audience_sets(by_audience, out, last=published)
        else:
            written = write_report_files(
                report, result, staged, json_path=json_path, html_path=html_path
            )  # the set's files
            published = (
                None if staged is None else publish_report_set(staged, metadata=report_set_metadata(report))
            )
            report_sets = {} if published is None else {"": published}
    named = {kind: path for kind, path in (("html", html_path), ("json", json_path)) if path is not None}
    if output_format == "json":
        print_json(json_document(report, written={**written, **named}, report_set=published), out)
    elif output_format == "table" or published is None:
        print_paths(named, out, report_set=published)
    else:
        print_paths({}, out, report_set=published)
    return CheckRun(result.verdict.state, report_sets)


def _run(
    spec: MigrationSpec,
    staged: StagedSet | None,
    spec_path: Path | None,
    tables: Sequence[str] | None,
    show_progress: bool,
    progress_console: Console | None,
    strategy: str,
    integrity: bool,
) -> CheckResult:
    console = progress_console or Console(file=sys.stderr)
    enabled = show_progress and console.is_terminal
    try:
        with progress_bar(console, enabled=enabled) as bar:
            result = run_check(
                spec,
                diff_dir=None if staged is None else staged.directory / "diffs",
                progress=TableBars(bar) if enabled else None,
                data_docs_dir=None if staged is None else staged.directory / "data-docs",
                options=ReconcileOptions(strategy=strategy),
                integrity=integrity,
            )
    except TableNotFoundError as exc:
        # A name given on the command line only (no spec, or added to a discovering spec's list).
        named = tables_from_flag(spec_path, tables)
        if any(f"table {name!r} named in the spec" in str(exc) for name in named):
            raise TableNotFoundError(str(exc).replace("named in the spec", "named in --tables")) from None
        raise
    nothing_compared = not result.tables and result.performance is None
    if nothing_compared and result.verdict.state in (VerdictState.PASS, VerdictState.PASS_WITH_WARNINGS):
        # Comparing nothing proves nothing: never a pass.
        where = f"between {result.source_url} and {result.target_url}"
        if not result.compared_mappings:
            raise BadInputError(f"no table to compare {where}: name tables in the spec or --tables")
        raise SystemFailure(
            f"no table could be compared {where}: {names_text([m.source for m in result.compared_mappings])}"
        )
    return result
