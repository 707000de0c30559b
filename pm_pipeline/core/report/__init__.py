"""Reports: ReportData (typed, frozen, redacted) and its views: HTML, JSON, CSV, Parquet, Markdown, XLSX, PDF."""

from pm_pipeline.core.report.build import (
    build_report_data,
    classifications_from_spec,
    pseudonymiser_for,
    redactor_for,
)
from pm_pipeline.core.report.model import (
    REPORT_SCHEMA_VERSION,
    ReportData,
    RowCounts,
    RuleRecord,
    RunInfo,
    TableSection,
    TopIssue,
    Verdict,
)
from pm_pipeline.core.report.writer import FILE_NAMES, ReportFormat, write_reports
from pm_pipeline.core.security.redaction import FIXED_MASK, REDACTION_KEY_ENV, RedactionMode, Redactor

__all__ = [
    "FILE_NAMES",
    "FIXED_MASK",
    "REDACTION_KEY_ENV",
    "REPORT_SCHEMA_VERSION",
    "RedactionMode",
    "Redactor",
    "ReportData",
    "ReportFormat",
    "RowCounts",
    "RuleRecord",
    "RunInfo",
    "TableSection",
    "TopIssue",
    "Verdict",
    "build_report_data",
    "classifications_from_spec",
    "pseudonymiser_for",
    "redactor_for",
    "write_reports",
]
