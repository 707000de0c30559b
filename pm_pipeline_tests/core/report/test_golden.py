"""Golden tests: every report format rendered for a fixed findings set equals its reviewed golden file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pm_pipeline.core.report import ReportData, ReportFormat, write_reports

from .extract import pdf_text, xlsx_text
from .support import assert_golden, sample_report


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[ReportFormat, Path]:
    return write_reports(sample_report(), directory=tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize(
    ("fmt", "golden"),
    [
        (ReportFormat.HTML, "report.html"),
        (ReportFormat.EXECUTIVE_HTML, "executive-summary.html"),
        (ReportFormat.JSON, "findings.json"),
        (ReportFormat.EVIDENCE_JSON, "evidence-pack.json"),
        (ReportFormat.MARKDOWN, "summary.md"),
    ],
)
def test_text_formats_match_golden(written: dict[ReportFormat, Path], fmt: ReportFormat, golden: str) -> None:
    assert_golden(golden, written[fmt].read_text(encoding="utf-8"))


def test_csv_files_match_golden(written: dict[ReportFormat, Path]) -> None:
    files = sorted(written[ReportFormat.CSV].glob("*.csv"))
    combined = "".join(f"## {p.name}\n{p.read_text(encoding='utf-8')}" for p in files)
    assert_golden("findings-csv.txt", combined)


def test_xlsx_content_matches_golden(written: dict[ReportFormat, Path]) -> None:
    assert_golden("report.xlsx.txt", xlsx_text(written[ReportFormat.XLSX]))


@pytest.mark.parametrize(
    ("fmt", "golden"),
    [
        (ReportFormat.EXECUTIVE_PDF, "executive-summary.pdf.txt"),
        (ReportFormat.EVIDENCE_PDF, "evidence-pack.pdf.txt"),
    ],
)
def test_pdf_text_matches_golden(written: dict[ReportFormat, Path], fmt: ReportFormat, golden: str) -> None:
    assert_golden(golden, pdf_text(written[fmt]))


def test_rendering_is_deterministic(
    written: dict[ReportFormat, Path], tmp_path: Path, report: ReportData
) -> None:
    # Golden files are only meaningful if two renders of the same data are identical.
    again = write_reports(report, directory=tmp_path)
    for fmt in (ReportFormat.HTML, ReportFormat.JSON, ReportFormat.EVIDENCE_JSON, ReportFormat.MARKDOWN):
        assert again[fmt].read_text() == written[fmt].read_text(), fmt
    assert xlsx_text(again[ReportFormat.XLSX]) == xlsx_text(written[ReportFormat.XLSX])
