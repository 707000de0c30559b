"""write_reports: every requested format of one ReportData, written by one call."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from pm_pipeline.core.errors import BadInputError, SystemFailure
from pm_pipeline.core.report import data_formats, html, markdown, xlsx
from pm_pipeline.core.report.model import ReportData


class ReportFormat(StrEnum):
    HTML = "html"  # technical report
    EXECUTIVE_HTML = "executive_html"
    EXECUTIVE_PDF = "executive_pdf"
    EVIDENCE_PDF = "evidence_pdf"
    EVIDENCE_JSON = "evidence_json"
    JSON = "json"  # every finding
    CSV = "csv"  # a directory, one file per finding category
    PARQUET = "parquet"
    MARKDOWN = "markdown"
    XLSX = "xlsx"


FILE_NAMES: dict[ReportFormat, str] = {
    ReportFormat.HTML: "report.html",
    ReportFormat.EXECUTIVE_HTML: "executive-summary.html",
    ReportFormat.EXECUTIVE_PDF: "executive-summary.pdf",
    ReportFormat.EVIDENCE_PDF: "evidence-pack.pdf",
    ReportFormat.EVIDENCE_JSON: "evidence-pack.json",
    ReportFormat.JSON: "findings.json",
    ReportFormat.CSV: "findings-csv",
    ReportFormat.PARQUET: "findings.parquet",
    ReportFormat.MARKDOWN: "summary.md",
    ReportFormat.XLSX: "report.xlsx",
}
# Formats that hold every finding; the others show a sample and link to these.
_FULL = (ReportFormat.JSON, ReportFormat.CSV, ReportFormat.PARQUET)
_BRIEF = (
    ReportFormat.HTML,
    ReportFormat.EXECUTIVE_PDF,
    ReportFormat.JSON,
    ReportFormat.CSV,
    ReportFormat.XLSX,
)


def write_reports(
    report: ReportData,
    *,
    directory: Path | str,
    formats: Iterable[ReportFormat | str] = tuple(ReportFormat),
) -> dict[ReportFormat, Path]:
    """Write the requested formats into ``directory`` and return where each one went.

    When a sampled view (HTML, XLSX, Markdown) leaves findings out and no full format was asked
    for, the CSV files are written too, so every finding the report mentions can be found.
    """
    try:
        wanted = {ReportFormat(f) for f in formats}
    except ValueError as exc:
        choices = ", ".join(ReportFormat)
        raise BadInputError(f"unknown report format ({exc}); choose from {choices}") from None
    sampled = wanted & {ReportFormat.HTML, ReportFormat.XLSX, ReportFormat.MARKDOWN}
    if sampled and report.sample_truncated and not wanted & set(_FULL):
        wanted.add(ReportFormat.CSV)
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SystemFailure(f"cannot create the report directory {out}: {exc}") from exc
    paths = {f: out / FILE_NAMES[f] for f in ReportFormat if f in wanted}
    try:
        _write_all(report, paths)
    except OSError as exc:
        raise SystemFailure(f"cannot write reports into {out}: {exc}") from exc
    return paths


def _links(paths: dict[ReportFormat, Path], *, exclude: ReportFormat, brief: bool) -> dict[str, str]:
    """Relative links from one view to the other files; ``brief`` keeps the main ones only."""
    links: dict[str, str] = {}
    for fmt, path in paths.items():
        if fmt is exclude or (brief and fmt not in _BRIEF):
            continue
        if fmt is ReportFormat.CSV and not brief:
            links.update(
                {f"{path.name}/{p.name}": f"{path.name}/{p.name}" for p in sorted(path.glob("*.csv"))}
            )
        else:
            links[path.name] = path.name + ("/" if fmt is ReportFormat.CSV else "")
    return links


def _write_all(report: ReportData, paths: dict[ReportFormat, Path]) -> None:
    # Full data first, so the evidence pack can hash what was written.
    if ReportFormat.JSON in paths:
        data_formats.write_findings_json(report, paths[ReportFormat.JSON])
    if ReportFormat.CSV in paths:
        data_formats.write_category_csvs(report, paths[ReportFormat.CSV])
    if ReportFormat.PARQUET in paths:
        data_formats.write_findings_parquet(report, paths[ReportFormat.PARQUET])
    if ReportFormat.HTML in paths:
        paths[ReportFormat.HTML].write_text(
            html.render_technical_html(report, links=_links(paths, exclude=ReportFormat.HTML, brief=False)),
            encoding="utf-8",
        )
    if ReportFormat.MARKDOWN in paths:
        markdown.write_markdown(
            report,
            paths[ReportFormat.MARKDOWN],
            links=_links(paths, exclude=ReportFormat.MARKDOWN, brief=True),
        )
    if ReportFormat.XLSX in paths:
        xlsx.write_xlsx(report, paths[ReportFormat.XLSX])
    if ReportFormat.EXECUTIVE_HTML in paths or ReportFormat.EXECUTIVE_PDF in paths:
        executive = html.render_executive_html(report)
        if ReportFormat.EXECUTIVE_HTML in paths:
            paths[ReportFormat.EXECUTIVE_HTML].write_text(executive, encoding="utf-8")
        if ReportFormat.EXECUTIVE_PDF in paths:
            html.write_pdf(executive, paths[ReportFormat.EXECUTIVE_PDF])
    if ReportFormat.EVIDENCE_JSON in paths or ReportFormat.EVIDENCE_PDF in paths:
        # findings.json is the canonical record of the run; its digest ties the pack to it.
        hashed = {FILE_NAMES[f]: paths[f] for f in (ReportFormat.JSON,) if f in paths}
        evidence = data_formats.evidence_json(report, hashed)
        if ReportFormat.EVIDENCE_JSON in paths:
            data_formats.write_evidence_json(evidence, paths[ReportFormat.EVIDENCE_JSON])
        if ReportFormat.EVIDENCE_PDF in paths:
            html.write_pdf(
                html.render_evidence_html(report, evidence=evidence), paths[ReportFormat.EVIDENCE_PDF]
            )
