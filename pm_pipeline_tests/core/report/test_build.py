"""build_report_data: verdict, scores, sampling, top issues, rules and masking of the run's metadata."""

from __future__ import annotations

import dataclasses

from pm_pipeline.core.config.spec import Classification, MigrationSpec
from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.core.report import ReportData, Verdict, classifications_from_spec
from pm_pipeline.core.report.build import _sample_quotas

from .support import EXTRA_FINDINGS, customers_reconciliation, sample_report


def test_any_error_means_not_ready(report: ReportData) -> None:
    assert report.verdict is Verdict.NOT_READY
    assert report.severity_counts == {"error": 4, "warning": 4, "info": 1}


def test_only_warnings_means_ready_with_accepted_risks() -> None:
    warnings_only = tuple(f for f in EXTRA_FINDINGS if f.severity is not Severity.ERROR)
    report = sample_report(tables=(), extra_findings=warnings_only)
    assert report.verdict is Verdict.READY_WITH_RISKS
    assert report.overall_match_score is None


def test_no_error_or_warning_means_ready() -> None:
    info = Finding(table="orders", category=Category.SEQUENCE_BEHIND, severity=Severity.INFO, check="schema")
    assert sample_report(tables=(), extra_findings=(info,)).verdict is Verdict.READY


def test_passwords_in_urls_are_masked(report: ReportData) -> None:
    assert "s3cret" not in report.run.source_url
    assert report.run.source_url == "mysql://app:***@legacy-db:3306/shop"


def test_tables_from_schema_and_integrity_findings_get_their_own_section(report: ReportData) -> None:
    names = [t.name for t in report.tables]
    assert names == ["customers", "accounts", "orders"]
    orders = report.tables[2]
    assert orders.counts is None
    assert orders.checks == ("integrity", "schema")
    assert not orders.passed


def test_scores_come_from_the_reconciliation_counts(report: ReportData) -> None:
    customers = report.tables[0]
    assert customers.counts is not None
    # 1200 rows x 4 columns; 1 missing row (4 cells) + 2 mismatched cells.
    assert customers.counts.match_score == (4800 - 6) / 4800
    assert report.overall_match_score is not None and report.overall_match_score < 1.0


def test_findings_are_ordered_most_severe_first(report: ReportData) -> None:
    severities = [f.severity for f in report.tables[0].findings]
    assert severities == sorted(severities, key=[Severity.ERROR, Severity.WARNING, Severity.INFO].index)


def test_sample_quotas_share_the_limit_fairly() -> None:
    # One huge table must not push small tables' findings out of the inline report.
    quotas = _sample_quotas({"big": 100_000, "small": 3, "medium": 40}, 100)
    assert quotas == {"small": 3, "medium": 40, "big": 57}
    assert sum(_sample_quotas({"a": 10, "b": 10, "c": 10}, 7).values()) <= 7


def test_sample_limit_bounds_the_inline_findings() -> None:
    report = sample_report(sample_limit=3)
    assert sum(len(t.sample) for t in report.tables) == 3
    assert report.sample_truncated
    assert report.finding_count == 9  # every finding is still in the model


def test_top_issues_rank_errors_first_then_by_business_impact() -> None:
    many = tuple(
        Finding(
            table="orders",
            category=Category.RULE_VIOLATION,
            severity=Severity.ERROR,
            column="total",
            check="integrity",
        )
        for _ in range(5)
    )
    report = sample_report(extra_findings=EXTRA_FINDINGS + many)
    ranked = [(i.severity, i.table, i.column, i.category, i.count) for i in report.top_issues]
    # Five broken rules do not outrank one lost row or one changed amount.
    assert ranked == [
        (Severity.ERROR, "customers", None, "missing_row", 1),
        (Severity.ERROR, "customers", "balance", "value_mismatch", 1),
        (Severity.ERROR, "customers", "email", "value_mismatch", 1),
        (Severity.ERROR, "orders", "total", "rule_violation", 5),
        (Severity.ERROR, "orders", "customer_id", "orphan_row", 1),
    ]


def test_truncated_reconciliation_uses_the_complete_counts() -> None:
    table = sample_report().tables[0]
    base = sample_report(
        tables=(dataclasses.replace(customers_reconciliation(), missing_rows=250, findings_truncated=True),)
    ).tables[0]
    assert base.category_counts["missing_row"] == 250
    assert table.category_counts["missing_row"] == 1


def test_rules_carry_versions_and_where_they_were_used() -> None:
    report = sample_report(rule_versions={"trim": "2"})
    rules = {r.name: r for r in report.rules}
    assert rules["trim"].version == "2"
    assert rules["abs_tolerance=0.001"].version == "0.1.0"
    assert rules["abs_tolerance=0.001"].used_by == ("customers.balance",)


def test_classifications_from_spec_reads_column_rules() -> None:
    spec = MigrationSpec.model_validate(
        {
            "source": {"url": "sqlite:///a.db"},
            "target": {"url": "sqlite:///b.db"},
            "tables": [
                {"source": "people", "columns": {"ssn": {"classification": "restricted"}, "name": {}}}
            ],
        }
    )
    assert classifications_from_spec(spec) == {"people": {"ssn": Classification.RESTRICTED}}
