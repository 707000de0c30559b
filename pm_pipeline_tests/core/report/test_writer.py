"""write_reports: one call writes every format; full formats hold every finding, sampled ones link to them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import FINDINGS_SCHEMA_VERSION
from pm_pipeline.core.report import FILE_NAMES, ReportData, ReportFormat, write_reports

from .extract import pdf_pages, xlsx_text
from .support import sample_report

REQUIRED_FIELDS = {"table", "column", "key", "category", "severity", "source_value", "target_value", "rule"}


def test_one_call_writes_every_format(report: ReportData, tmp_path: Path) -> None:
    paths = write_reports(report, directory=tmp_path / "out")
    assert set(paths) == set(ReportFormat)
    for fmt, path in paths.items():
        assert path == tmp_path / "out" / FILE_NAMES[fmt]
        assert path.exists() and (path.is_dir() or path.stat().st_size > 0), fmt


def test_findings_json_lists_every_finding_with_a_versioned_schema(
    report: ReportData, tmp_path: Path
) -> None:
    path = write_reports(report, directory=tmp_path, formats=["json"])[ReportFormat.JSON]
    document = json.loads(path.read_text())
    assert document["schema_version"] == FINDINGS_SCHEMA_VERSION
    assert document["verdict"]["readiness"] == "not_ready"
    assert document["verdict"]["state"] == "fail"
    assert len(document["findings"]) == report.finding_count == 9
    for finding in document["findings"]:
        assert set(finding) >= REQUIRED_FIELDS


def test_one_csv_per_category_with_every_finding(report: ReportData, tmp_path: Path) -> None:
    directory = write_reports(report, directory=tmp_path, formats=["csv"])[ReportFormat.CSV]
    counts = {}
    for path in directory.glob("*.csv"):
        with path.open(newline="") as stream:
            rows = list(csv.DictReader(stream))
        assert {r["category"] for r in rows} == {path.stem}
        counts[path.stem] = len(rows)
    assert sum(counts.values()) == report.finding_count
    assert counts["value_mismatch"] == 2


def test_parquet_holds_every_finding(report: ReportData, tmp_path: Path) -> None:
    path = write_reports(report, directory=tmp_path, formats=["parquet"])[ReportFormat.PARQUET]
    table = pq.read_table(path)
    assert table.num_rows == report.finding_count
    assert "rule" in table.column_names


def test_truncated_sample_links_to_csv_files_written_even_if_not_asked(tmp_path: Path) -> None:
    report = sample_report(sample_limit=2)
    paths = write_reports(report, directory=tmp_path, formats=["html", "markdown"])
    assert ReportFormat.CSV in paths
    html = paths[ReportFormat.HTML].read_text()
    assert 'href="findings-csv/value_mismatch.csv"' in html
    assert "Showing 1 of 5 findings" in html
    assert "findings-csv/" in paths[ReportFormat.MARKDOWN].read_text()


def test_unknown_format_is_bad_input(report: ReportData, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="docx"):
        write_reports(report, directory=tmp_path, formats=["docx"])


def test_executive_pdf_is_one_page(report: ReportData, tmp_path: Path) -> None:
    path = write_reports(report, directory=tmp_path, formats=["executive_pdf"])[ReportFormat.EXECUTIVE_PDF]
    pages = pdf_pages(path)
    assert len(pages) == 1
    assert "Not ready" in pages[0] and "Recommendation" in pages[0]


def test_executive_pdf_stays_one_page_with_long_names_and_messages(tmp_path: Path) -> None:
    # Real schemas have 60-character table names and checks write long messages.
    from pm_pipeline.core.findings import Category, Finding, Severity

    long = tuple(
        Finding(
            table=f"very_long_schema_name.very_long_table_name_for_reporting_{n}",
            category=Category.RULE_VIOLATION,
            severity=Severity.ERROR,
            column="a_column_with_a_rather_long_name_too",
            message="x " * 300,
            check="integrity",
        )
        for n in range(40)
    )
    report = sample_report(extra_findings=long)
    path = write_reports(report, directory=tmp_path, formats=["executive_pdf"])[ReportFormat.EXECUTIVE_PDF]
    assert len(pdf_pages(path)) == 1


def test_evidence_pack_states_what_was_verified_and_claims_no_certification(
    report: ReportData, tmp_path: Path
) -> None:
    paths = write_reports(report, directory=tmp_path, formats=["json", "evidence_json", "evidence_pdf"])
    evidence = json.loads(paths[ReportFormat.EVIDENCE_JSON].read_text())
    assert evidence["run"]["run_id"] == "run-0001"
    assert evidence["checksum_manifest"]["customers"].startswith("sha256:")
    assert {c["check"] for c in evidence["checks"]} == {"reconciliation", "schema", "integrity"}
    assert {r["name"] for r in evidence["rules"]} >= {"trim", "abs_tolerance=0.001"}
    import hashlib

    digest = hashlib.sha256(paths[ReportFormat.JSON].read_bytes()).hexdigest()
    assert evidence["artifacts"]["findings.json"] == "sha256:" + digest
    text = " ".join(pdf_pages(paths[ReportFormat.EVIDENCE_PDF])).lower()
    for claim in ("certified", "certifies", "compliant with", "guarantee"):
        assert claim not in text
        assert claim not in json.dumps(evidence).lower()
    assert "not a certification" in " ".join(text.split())


def test_xlsx_has_a_summary_and_one_sheet_per_table(report: ReportData, tmp_path: Path) -> None:
    path = write_reports(report, directory=tmp_path, formats=["xlsx"])[ReportFormat.XLSX]
    sheets = [line[3:] for line in xlsx_text(path).splitlines() if line.startswith("## ")]
    assert sheets == ["Summary", "customers", "accounts", "orders"]


def test_each_report_states_its_clearance(report: ReportData, tmp_path: Path) -> None:
    paths = write_reports(report, directory=tmp_path)
    assert "Clearance of this report: <strong>internal</strong>" in paths[ReportFormat.HTML].read_text()
    assert "Clearance: **internal**" in paths[ReportFormat.MARKDOWN].read_text()
    assert json.loads(paths[ReportFormat.JSON].read_text())["clearance"] == "internal"
    assert "internal (values above are masked" in xlsx_text(paths[ReportFormat.XLSX])
    for pdf in (ReportFormat.EXECUTIVE_PDF, ReportFormat.EVIDENCE_PDF):
        assert "Clearance of this report: internal" in " ".join(" ".join(pdf_pages(paths[pdf])).split())
