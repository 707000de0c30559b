"""What `pm-pipeline check` does between parsing its arguments and choosing its exit code."""

from __future__ import annotations

import getpass
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
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
from rich.table import Table

from pm_pipeline.cli import remember_secrets
from pm_pipeline.core.config import MigrationSpec, TableMapping, load_spec, spec_checksum
from pm_pipeline.core.connectors import open_endpoint
from pm_pipeline.core.errors import BadInputError, SystemFailure, TableNotFoundError
from pm_pipeline.core.integrity import verify_manifest, write_manifest
from pm_pipeline.core.reconcile import ReconcileOptions
from pm_pipeline.core.reconcile.stash import Progress as BatchProgress
from pm_pipeline.core.report import ReportFormat, redactor_for, write_reports
from pm_pipeline.core.run import CheckResult, check_report, run_check, spec_for_urls
from pm_pipeline.core.verdict import VerdictState


def _spec(
    spec_path: Path | None, source_url: str | None, target_url: str | None, tables: Sequence[str] | None
) -> tuple[MigrationSpec, str]:
    if spec_path is not None:
        spec = load_spec(spec_path)
        remember_secrets(spec.source.url, spec.target.url)
        return _selected(spec, tables, spec_path=spec_path), spec_checksum(spec_path)
    assert source_url and target_url
    spec = spec_for_urls(source_url=source_url, target_url=target_url, tables=tables)
    if tables:
        _require_in_source(spec, list(dict.fromkeys(tables)))
    return spec, "no-spec"


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
) -> VerdictState:
    """Run a check, print a summary on stdout, write the requested files; the run's verdict.

    With ``show_progress`` and a terminal, a bar per table on ``progress_console`` (stderr by
    default); without, no row estimates are asked for (on some engines they cost a count)."""
    spec, checksum = _spec(spec_path, source_url, target_url, tables)
    # Absolute before use: some writers (Great Expectations' Data Docs) refuse a relative folder.
    reports_dir, json_path, html_path = (
        None if path is None else path.expanduser().absolute() for path in (reports_dir, json_path, html_path)
    )
    for flag, path in (("--json", json_path), ("--html", html_path)):
        if path is not None and path.is_dir():
            raise BadInputError(f"{flag} {path}: is a folder; name the file to write")
    for flag, folder in (("--reports", reports_dir), ("--json", json_path), ("--html", html_path)):
        if folder is not None:
            _writable_folder(flag, folder if flag == "--reports" else folder.parent)
    diff_dir = (reports_dir / "diffs") if reports_dir else None
    console = progress_console or Console(file=sys.stderr)
    enabled = show_progress and console.is_terminal
    try:
        with progress_bar(console, enabled=enabled) as bar:
            result = run_check(
                spec,
                diff_dir=diff_dir,
                progress=TableBars(bar) if enabled else None,
                data_docs_dir=(reports_dir / "data-docs") if reports_dir else None,
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
    verdict = result.verdict
    print_summary(result, Console(file=sys.stdout, width=120))
    report = check_report(result, spec_checksum=checksum, launched_by=f"cli:{getpass.getuser()}")
    written: dict[str, Path] = {}
    if reports_dir is not None:
        written.update({str(k): v for k, v in write_reports(report, directory=reports_dir).items()})
        if result.manifest:
            manifest = reports_dir / "checksum-manifest.json"
            write_manifest(str(manifest), entries=result.manifest)
            written["checksum_manifest"] = manifest
    for kind, path, report_format in (
        ("html", html_path, ReportFormat.HTML),
        ("json", json_path, ReportFormat.JSON),
    ):
        if path is not None:
            # Written beside the destination, then renamed over it: the file is whole or absent,
            # and no other file of that folder is overwritten on the way.
            with tempfile.TemporaryDirectory(dir=path.parent, prefix=".pm-pipeline-") as scratch:
                out = write_reports(report, directory=Path(scratch), formats=[report_format])
                out[report_format].replace(path)
            written[kind] = path
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return verdict.state


def _writable_folder(flag: str, folder: Path) -> None:
    """Fail before the run, not after it, when an output folder cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise BadInputError(f"{flag} {folder}: cannot write there ({exc.strerror or exc})") from None


def print_summary(result: CheckResult, console: Console) -> None:
    # Every name and value printed comes from the databases: escaped, so that '[/]' or '[bold]' in
    # a value is shown as written instead of breaking or restyling the console output.
    table = Table(title=escape(f"{result.spec.name}: {result.source_url} -> {result.target_url}"))
    for heading in (
        "table",
        "source rows",
        "target rows",
        "missing",
        "extra",
        "duplicates",
        "changed",
        "match score",
    ):
        table.add_column(heading, justify="left" if heading == "table" else "right")
    for t in result.tables:
        table.add_row(
            escape(t.table if t.table == t.target_table else f"{t.table} -> {t.target_table}"),
            f"{t.source_rows:,}",
            f"{t.target_rows:,}",
            f"{t.missing_rows:,}",
            f"{t.extra_rows:,}",
            f"{t.duplicate_keys_source + t.duplicate_keys_target:,}",
            f"{t.changed_rows:,}",
            f"{t.match_score:.4%}",
        )
    console.print(table)
    for t in result.tables:
        # Why a table was not simply read whole: what its rows-read count on the bar stands for.
        if t.strategy_note and t.strategy != "arrow":
            console.print(f"[dim]{escape(f'{t.table}: {t.strategy} strategy: {t.strategy_note}')}[/]")
    colour = {"error": "red", "warning": "yellow"}
    for finding in map(redactor_for(result.spec).redact, result.findings):
        if str(finding.severity) in colour:
            style = colour[str(finding.severity)]
            where = escape(f"{finding.table}.{finding.column}" if finding.column else finding.table)
            console.print(
                f"[{style}]{finding.severity}[/] {where} [bold]{escape(str(finding.category))}[/]: "
                f"{escape(finding.message)}"
            )
    decision = result.verdict
    if decision.state is VerdictState.INCOMPLETE:
        checks = "; ".join(decision.incomplete_checks)
        console.print(f"[red]INCOMPLETE[/]: check(s) could not run to the end: {escape(checks)}")
    elif decision.state is VerdictState.FAIL:
        console.print("[red]FAIL[/]: differences found")
    elif decision.state is VerdictState.PASS_WITH_WARNINGS:
        console.print("[yellow]PASS[/] with warnings: differences within the accepted thresholds")
    else:
        console.print("[green]PASS[/]: source and target match")


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
