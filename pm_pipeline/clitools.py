"""What `pm-pipeline check` does between parsing its arguments and choosing its exit code."""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pm_pipeline.cli import remember_secrets
from pm_pipeline.cli_console import (
    json_document,
    print_findings,
    print_json,
    print_paths,
    print_summary,
    print_verdict,
)
from pm_pipeline.core.config import MigrationSpec, TableMapping, load_spec, spec_checksum
from pm_pipeline.core.connectors import open_endpoint
from pm_pipeline.core.errors import BadInputError, SystemFailure, TableNotFoundError
from pm_pipeline.core.integrity import verify_manifest, write_manifest
from pm_pipeline.core.reconcile import ReconcileOptions
from pm_pipeline.core.reconcile.stash import Progress as BatchProgress
from pm_pipeline.core.report import FILE_NAMES, ReportData, ReportFormat, write_reports
from pm_pipeline.core.report.audiences import audience_root, audiences_of, collecting_spec, shown_audience
from pm_pipeline.core.report.report_set import (
    StagedSet,
    new_run_id,
    publish_report_set,
    staged_report_set,
    verify_report_set,
)
from pm_pipeline.core.run import CheckResult, check_report, run_check, spec_for_urls
from pm_pipeline.core.verdict import VerdictState


def _spec(
    spec_path: Path | None, source_url: str | None, target_url: str | None, tables: Sequence[str] | None
) -> tuple[MigrationSpec, str]:
    if spec_path is not None:
        spec = load_spec(spec_path)
        remember_secrets(spec.source.url, spec.source.replica_url or "", spec.target.url)
        return _selected(spec, tables, spec_path=spec_path), spec_checksum(spec_path)
    assert source_url and target_url
    spec = spec_for_urls(source_url=source_url, target_url=target_url, tables=tables)
    if tables:
        _require_in_source(spec, list(dict.fromkeys(tables)))
    return spec, "no-spec"


def with_timeouts(spec: MigrationSpec, overrides: Mapping[str, str]) -> MigrationSpec:
    """``spec`` with ``--timeout`` overrides applied to both sides' ``timeouts``."""
    from pydantic import ValidationError

    from pm_pipeline.core.config.timeouts import TimeoutSettings

    sides = {}
    for side in ("source", "target"):
        endpoint = getattr(spec, side)
        try:
            limits = TimeoutSettings.model_validate({**endpoint.timeouts.model_dump(), **overrides})
        except ValidationError as exc:
            error = exc.errors()[0]
            name = ".".join(str(part) for part in error["loc"])
            raise BadInputError(f"--timeout {name}: {error['msg'].removeprefix('Value error, ')}") from None
        sides[side] = endpoint.model_copy(update={"timeouts": limits})
    return spec.model_copy(update=sides)


def _selected(spec: MigrationSpec, tables: Sequence[str] | None, *, spec_path: Path) -> MigrationSpec:
    """The spec restricted to ``--tables``: every name must be one the spec maps (or, with
    ``discover``, one the source holds); a name that matches nothing is an error, never a run that
    compares nothing and passes."""
    if not tables:
        return spec
    wanted = list(dict.fromkeys(tables))
    mapped = {mapping.source: mapping for mapping in spec.tables}
    others = [name for name in wanted if name not in mapped]
    if others and not spec.discover:
        raise BadInputError(
            f"--tables {', '.join(others)}: not mapped in the spec {spec_path}, which maps "
            f"{_names(list(mapped))} (or set 'discover: true' to compare any table both sides hold)"
        )
    if others:
        _require_in_source(spec, others)
    chosen = [mapped.get(name) or TableMapping(source=name) for name in wanted]
    return spec.model_copy(update={"tables": chosen, "discover": False})


def _from_flag(spec_path: Path | None, tables: Sequence[str] | None) -> set[str]:
    """The ``--tables`` names the spec file does not map itself."""
    if not tables:
        return set()
    if spec_path is None:
        return set(tables)
    return set(tables) - {mapping.source for mapping in load_spec(spec_path).tables}


def _names(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit]) or "no table"
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _require_in_source(spec: MigrationSpec, names: Sequence[str]) -> None:
    with open_endpoint(spec.source) as source:
        present = source.list_tables()
        missing = [name for name in names if name not in present]
        if missing:
            raise TableNotFoundError(
                f"--tables {', '.join(missing)}: named in --tables but not in the source {source.describe()}, "
                f"which holds {_names(present)}"
            )


def progress_bar(console: Console, *, enabled: bool, get_time: Callable[[], float] | None = None) -> Progress:
    """One bar per table: rows read (of the expected), time spent and the time remaining."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[rows]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=True,
        get_time=get_time,
    )


def _rows_text(done: int, expected: int | None) -> str:
    return f"{done:,} rows" if expected is None else f"{done:,} / ~{expected:,} rows"


def _finished_text(done: int, expected: int | None) -> str:
    if expected is None or done >= expected:
        return _rows_text(done, expected)
    # Fewer rows than announced: a smaller table than estimated, or a strategy that compared
    # checksums and read only the rows of the differing buckets.
    return f"done: {done:,} rows read of ~{expected:,}"


class TableBars:
    """The check's progress as rich bars. The expected rows are an estimate: a bar whose table holds
    more rows grows with them, and a finished table's bar is complete whatever was announced (its
    text then says how many rows were read when that is fewer than announced)."""

    def __init__(self, bar: Progress) -> None:
        self._bar = bar
        self._tasks: dict[str, tuple[TaskID, int | None]] = {}
        self._lock = threading.Lock()  # the source and target are read by two threads

    def start_table(self, table: str, expected_rows: int | None) -> BatchProgress:
        task = self._bar.add_task(escape(table), total=expected_rows, rows=_rows_text(0, expected_rows))
        self._tasks[table] = (task, expected_rows)

        def advance(side: str, rows: int) -> None:
            with self._lock:
                done = int(self._bar.tasks[task].completed) + rows
                total = self._bar.tasks[task].total
                grown = None if total is None else max(int(total), done)
                self._bar.update(task, completed=done, total=grown, rows=_rows_text(done, expected_rows))

        return advance

    def finish_table(self, table: str) -> None:
        task, expected_rows = self._tasks[table]
        with self._lock:
            done = int(self._bar.tasks[task].completed)
            self._bar.update(task, completed=done, total=done, rows=_finished_text(done, expected_rows))


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
    spec, checksum = _spec(spec_path, source_url, target_url, tables)
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
            _writable_folder(flag, folder if flag == "--reports" else folder.parent)
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
            result = _at_published_place(result, staged)
        report = check_report(result, spec_checksum=checksum, launched_by=launched_by, run_id=run_id)
        # With audiences the console names the set at its own clearance, never a higher one.
        named_set = sets[shown_audience(audiences, spec.reports.clearance)] if audiences else staged
        where = _where_findings_are(named_set, json_path, html_path)
        if output_format == "table":
            print_summary(result, out)
            print_findings(report, out, where=where)
        if output_format != "json":
            print_verdict(result, out)
        published: Path | None
        if audiences:
            from pm_pipeline.cli_audiences import print_audience_sets, write_audience_sets

            _write_files(report, result, None, json_path=json_path, html_path=html_path)
            by_audience = write_audience_sets(
                result, sets, spec_checksum=checksum, launched_by=launched_by, run_id=run_id
            )
            published = by_audience[shown_audience(audiences, spec.reports.clearance)]
            report_sets = {str(audience): path for audience, path in by_audience.items()}
            written = {f"reports ({audience})": path for audience, path in by_audience.items()}
            if output_format != "json":
                print_audience_sets(by_audience, out, last=published)
        else:
            written = _write_files(
                report, result, staged, json_path=json_path, html_path=html_path
            )  # the set's files
            published = None if staged is None else publish_report_set(staged, metadata=_set_metadata(report))
            report_sets = {} if published is None else {"": published}
    named = {kind: path for kind, path in (("html", html_path), ("json", json_path)) if path is not None}
    if output_format == "json":
        print_json(json_document(report, written={**written, **named}, report_set=published), out)
    elif output_format == "table" or published is None:
        print_paths(named, out, report_set=published)
    else:
        print_paths({}, out, report_set=published)
    return CheckRun(result.verdict.state, report_sets)


def default_reports_root(spec: MigrationSpec, *, spec_path: Path | None) -> Path:
    """Where a check's report sets go when no output is named: the spec's ``reports.directory``
    (relative to the spec file), or ``./pm-reports`` for a check without a spec."""
    if spec_path is None:
        return Path.cwd() / "pm-reports"
    directory = Path(spec.reports.directory).expanduser()
    return directory if directory.is_absolute() else spec_path.absolute().parent / directory


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
        named = _from_flag(spec_path, tables)
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
            f"no table could be compared {where}: {_names([m.source for m in result.compared_mappings])}"
        )
    return result


def _at_published_place(result: CheckResult, staged: StagedSet) -> CheckResult:
    """The result with its diff paths where the set will be once published, not in its staging folder."""
    staging, final = str(staged.directory), str(staged.destination)
    tables = tuple(
        dataclasses.replace(t, diff_path=final + t.diff_path[len(staging) :])
        if t.diff_path is not None and t.diff_path.startswith(staging)
        else t
        for t in result.tables
    )
    return dataclasses.replace(result, tables=tables)


def _where_findings_are(staged: StagedSet | None, json_path: Path | None, html_path: Path | None) -> str:
    if staged is not None:
        return str(staged.destination / FILE_NAMES[ReportFormat.HTML])
    if html_path is not None or json_path is not None:
        return str(html_path or json_path)
    return "the reports (run without --no-reports, or with --reports DIR)"


def _write_files(
    report: ReportData,
    result: CheckResult,
    staged: StagedSet | None,
    *,
    json_path: Path | None,
    html_path: Path | None,
) -> dict[str, Path]:
    """Every report format into the staged set; ``--json`` and ``--html`` files beside their
    destination, then renamed over it: whole or absent, and no other file of their folder touched."""
    written: dict[str, Path] = {}  # the set's files, by format, at their published place
    if staged is not None:
        paths = write_reports(report, directory=staged.directory)
        written.update(
            {str(k): staged.destination / p.relative_to(staged.directory) for k, p in paths.items()}
        )
        if result.manifest:
            write_manifest(str(staged.directory / "checksum-manifest.json"), entries=result.manifest)
            written["checksum_manifest"] = staged.destination / "checksum-manifest.json"
    for path, report_format in ((html_path, ReportFormat.HTML), (json_path, ReportFormat.JSON)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=path.parent, prefix=".pm-pipeline-") as scratch:
                out = write_reports(report, directory=Path(scratch), formats=[report_format])
                out[report_format].replace(path)
    return written


def _set_metadata(report: ReportData) -> dict[str, object]:
    """What the set's manifest says about the run, beside its files."""
    return {
        "spec_name": report.run.spec_name,
        "spec_checksum": report.run.spec_checksum,
        "verdict": str(report.verdict),
        "source_url": report.run.source_url,
        "target_url": report.run.target_url,
    }


def _writable_folder(flag: str, folder: Path) -> None:
    """Fail before the run, not after it, when an output folder cannot be written; a folder that
    does not exist yet is created only when the run writes into it (a run that fails leaves none)."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "a file stands in its path", str(existing))
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise BadInputError(f"{flag} {folder}: cannot write there ({exc.strerror or exc})") from None


def run_verify_manifest(*, manifest: Path, spec_path: Path | None) -> bool:
    """Recompute a checksum manifest; print what differs. True when every checksum matches."""
    urls = None
    if spec_path is not None:
        spec = load_spec(spec_path)
        remember_secrets(spec.source.url, spec.target.url)
        urls = {"source": spec.source.url, "target": spec.target.url}
    findings = verify_manifest(str(manifest), urls=urls)
    for finding in findings:
        print(f"{finding.table}: {finding.category}: {finding.message}")
    print("every checksum matches" if not findings else f"{len(findings)} checksum(s) differ")
    return not findings


def run_verify_report_set(path: Path) -> bool:
    """Recompute the SHA-256 of every file of a report set; print what differs. True when all match."""
    document, problems = verify_report_set(path)
    for problem in problems:
        print(f"{problem.path}: {problem.problem}")
    files = len(document.get("files", []))
    run = document.get("run_id", "?")
    print(
        f"report set {run}: every file matches its manifest ({files} files)"
        if not problems
        else f"report set {run}: {len(problems)} file(s) differ from the manifest"
    )
    return not problems
