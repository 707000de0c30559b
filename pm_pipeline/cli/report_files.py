"""Where a check's reports go, and how they are written: whole or absent."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from pm_pipeline.core.config import MigrationSpec
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.integrity import write_manifest
from pm_pipeline.core.report import FILE_NAMES, ReportData, ReportFormat, write_reports
from pm_pipeline.core.report.report_set import StagedSet
from pm_pipeline.core.run import CheckResult


def default_reports_root(spec: MigrationSpec, *, spec_path: Path | None) -> Path:
    """Where a check's report sets go when no output is named: the spec's ``reports.directory``
    (relative to the spec file), or ``./pm-reports`` for a check without a spec."""
    if spec_path is None:
        return Path.cwd() / "pm-reports"
    directory = Path(spec.reports.directory).expanduser()
    return directory if directory.is_absolute() else spec_path.absolute().parent / directory


def at_published_place(result: CheckResult, staged: StagedSet) -> CheckResult:
    """The result with its diff paths where the set will be once published, not in its staging folder."""
    staging, final = str(staged.directory), str(staged.destination)
    tables = tuple(
        dataclasses.replace(t, diff_path=final + t.diff_path[len(staging) :])
        if t.diff_path is not None and t.diff_path.startswith(staging)
        else t
        for t in result.tables
    )
    return dataclasses.replace(result, tables=tables)


def where_findings_are(staged: StagedSet | None, json_path: Path | None, html_path: Path | None) -> str:
    if staged is not None:
        return str(staged.destination / FILE_NAMES[ReportFormat.HTML])
    if html_path is not None or json_path is not None:
        return str(html_path or json_path)
    return "the reports (run without --no-reports, or with --reports DIR)"


def write_report_files(
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


def report_set_metadata(report: ReportData) -> dict[str, object]:
    """What the set's manifest says about the run, beside its files."""
    return {
        "spec_name": report.run.spec_name,
        "spec_checksum": report.run.spec_checksum,
        "verdict": str(report.verdict),
        "source_url": report.run.source_url,
        "target_url": report.run.target_url,
    }


def require_writable_folder(flag: str, folder: Path) -> None:
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
