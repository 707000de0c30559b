"""ReportData: the one typed, frozen model every report format is a view of.

Values in it are already redacted for the report's clearance, so no view can leak what the
model does not hold. Adding a section to the reports means adding data here, then views.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pm_pipeline.core.config.compliance import ComplianceSettings
from pm_pipeline.core.config.spec import Classification, Thresholds
from pm_pipeline.core.findings import ColumnStats, Finding, JsonValue, Severity
from pm_pipeline.core.security.redaction import RedactionMode
from pm_pipeline.core.verdict import RunVerdict, VerdictState

REPORT_SCHEMA_VERSION = "1.0"


class Verdict(StrEnum):
    READY = "ready"
    READY_WITH_RISKS = "ready_with_accepted_risks"
    NOT_READY = "not_ready"
    INCOMPLETE = "incomplete"  # a check could not run to the end (check_error): never ready

    @property
    def label(self) -> str:
        return {
            Verdict.READY: "Ready",
            Verdict.READY_WITH_RISKS: "Ready with accepted risks",
            Verdict.NOT_READY: "Not ready",
            Verdict.INCOMPLETE: "Incomplete",
        }[self]


@dataclass(frozen=True)
class RunInfo:
    """Which run produced the findings, on what, when and launched by whom."""

    run_id: str
    spec_name: str
    spec_checksum: str
    source_url: str
    target_url: str
    source_engine_version: str
    target_engine_version: str
    started_at: dt.datetime
    finished_at: dt.datetime
    launched_by: str
    tool_version: str
    generated_at: dt.datetime

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class RowCounts:
    """Reconciliation counts of one table; absent for tables only schema or integrity checks saw."""

    target_table: str
    key_columns: tuple[str, ...]
    keyless: bool
    source_rows: int
    target_rows: int
    matched_rows: int
    missing_rows: int
    extra_rows: int
    duplicate_keys_source: int
    duplicate_keys_target: int
    changed_rows: int
    rows_equal_under_rule: int
    compared_columns: int
    strategy: str
    seconds: float
    match_score: float
    strategy_note: str = ""


@dataclass(frozen=True)
class TableSection:
    """Everything the reports say about one table."""

    name: str
    counts: RowCounts | None
    columns: tuple[ColumnStats, ...]
    findings: tuple[Finding, ...]  # every finding, redacted, most severe first
    sample: tuple[Finding, ...]  # the ones shown inline (at most the report's sample limit in total)
    category_counts: Mapping[str, int]
    severity_counts: Mapping[str, int]
    column_classes: Mapping[str, Classification]
    findings_truncated: bool  # reconciliation stopped collecting findings for this table
    diff_path: str | None
    state: VerdictState | None = None  # the table's verdict (core.verdict); None: from severities
    # When its reconciliation ran (from the check's result); None when it was not reconciled.
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def passed(self) -> bool:
        if self.state is not None:
            return self.state.passed
        return not self.severity_counts.get(Severity.ERROR, 0)

    @property
    def consequences(self) -> int:
        """Findings folded under their cause (caused_by): shown, never counted as issues."""
        return sum(1 for f in self.findings if f.caused_by is not None)

    @property
    def sample_truncated(self) -> bool:
        return len(self.sample) < len(self.findings)

    @property
    def checks(self) -> tuple[str, ...]:
        seen = {f.check for f in self.findings}
        if self.counts is not None:
            seen.add("reconciliation")
        return tuple(sorted(seen))


@dataclass(frozen=True)
class TopIssue:
    """Findings of one kind on one table/column, ranked by impact for the executive summary."""

    table: str
    column: str | None
    category: str
    severity: Severity
    count: int
    example: str


@dataclass(frozen=True)
class RuleRecord:
    """A comparison or integrity rule the run applied, with the version of its implementation."""

    name: str
    version: str
    used_by: tuple[str, ...]  # "table.column" or "table"


@dataclass(frozen=True)
class AudienceRecord:
    """Which audience a report set was written for: its clearance and the columns masked for it."""

    audience: Classification
    masked_columns: tuple[str, ...]  # "table.column", classified above the audience's clearance

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "audience": str(self.audience),
            "clearance": str(self.audience),
            "masked_columns": list(self.masked_columns),
        }


@dataclass(frozen=True)
class ReportData:
    """All findings of one run with its metadata and scores; every format is a view of this."""

    run: RunInfo
    clearance: Classification
    redaction: RedactionMode
    thresholds: Thresholds
    sample_limit: int
    verdict: Verdict
    overall_match_score: float | None
    tables: tuple[TableSection, ...]
    top_issues: tuple[TopIssue, ...]
    rules: tuple[RuleRecord, ...]
    checksum_manifest: Mapping[str, JsonValue] | None
    severity_counts: Mapping[str, int] = field(default_factory=dict)
    schema_version: str = REPORT_SCHEMA_VERSION
    decision: RunVerdict | None = None  # the verdict with its reasons, per table (core.verdict)
    compliance: ComplianceSettings | None = None  # controls the evidence pack maps the checks to
    # the performance workload's figures (PerfResult.to_json()), when the run had one
    performance: Mapping[str, JsonValue] | None = None
    audience: AudienceRecord | None = None  # set when the spec renders one report set per audience

    @property
    def finding_count(self) -> int:
        return sum(len(t.findings) for t in self.tables)

    @property
    def sample_truncated(self) -> bool:
        return any(t.sample_truncated for t in self.tables)

    def all_findings(self) -> list[Finding]:
        return [f for t in self.tables for f in t.findings]
