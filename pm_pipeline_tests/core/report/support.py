"""Test support: a fixed, reviewed findings set (three tables, every check, classified columns) and golden files."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from pm_pipeline.core.config.spec import Classification, Thresholds
from pm_pipeline.core.findings import Category, ColumnStats, Finding, Severity, TableReconciliation
from pm_pipeline.core.report import ReportData, build_report_data

# Values of columns classified above the reports' clearance (internal): no output may contain them.
SECRET_VALUES = (
    "alice@example.com",
    "alice@example.org",
    "alice@example.com ",
    "DE89370400440532013000",
    "GB29NWBK60161331926819",
)
GOLDEN = Path(__file__).parent / "golden"
STARTED = dt.datetime(2025, 3, 14, 9, 26, 53, tzinfo=dt.UTC)
CLASSES = {
    "customers": {"email": Classification.RESTRICTED},
    "accounts": {"iban": Classification.CONFIDENTIAL},
}


def customers_reconciliation() -> TableReconciliation:
    findings = (
        Finding(
            table="customers",
            category=Category.VALUE_MISMATCH,
            severity=Severity.ERROR,
            column="email",
            key={"id": 3},
            source_value="alice@example.com ",
            target_value="alice@example.org",
            source_canonical="alice@example.com",
            target_canonical="alice@example.org",
            rule="trim",
            message="email differs for id=3",
            classification=Classification.RESTRICTED,
        ),
        Finding(
            table="customers",
            category=Category.VALUE_MISMATCH,
            severity=Severity.ERROR,
            column="balance",
            key={"id": 5},
            source_value="10.50",
            target_value="10.49",
            source_canonical="10.50",
            target_canonical="10.49",
            rule="abs_tolerance=0.001",
            message="balance differs by 0.01 for id=5",
        ),
        Finding(
            table="customers",
            category=Category.MISSING_ROW,
            severity=Severity.ERROR,
            key={"id": 7},
            message="row id=7 is missing in the target",
        ),
    )
    return TableReconciliation(
        table="customers",
        target_table="customers",
        key_columns=("id",),
        keyless=False,
        source_rows=1200,
        target_rows=1199,
        matched_rows=1199,
        missing_rows=1,
        extra_rows=0,
        duplicate_keys_source=0,
        duplicate_keys_target=0,
        changed_rows=2,
        rows_equal_under_rule=14,
        compared_columns=4,
        columns=(
            ColumnStats(column="id", target_column="id", compared=1199, exact=1199),
            ColumnStats(
                column="email",
                target_column="email",
                compared=1199,
                exact=1184,
                equal_under_rule={"trim": 14},
                mismatched=1,
                rule="trim",
            ),
            ColumnStats(
                column="balance",
                target_column="balance",
                compared=1199,
                exact=1198,
                mismatched=1,
                max_abs_diff=0.01,
                rule="abs_tolerance=0.001",
            ),
            ColumnStats(column="name", target_column="full_name", compared=1199, exact=1199),
        ),
        findings=findings,
        strategy="arrow",
        seconds=1.25,
        started_at=STARTED + dt.timedelta(seconds=2),
        finished_at=STARTED + dt.timedelta(seconds=3.25),
        diff_path="diffs/customers.parquet",
    )


def accounts_reconciliation() -> TableReconciliation:
    findings = (
        Finding(
            table="accounts",
            category=Category.MISSING_ROW,
            severity=Severity.WARNING,
            key={"iban": "DE89370400440532013000"},
            message="row iban=DE89370400440532013000 is missing in the target",
        ),
        Finding(
            table="accounts",
            category=Category.EXTRA_ROW,
            severity=Severity.WARNING,
            key={"iban": "GB29NWBK60161331926819"},
            message="row is only in the target",
        ),
    )
    return TableReconciliation(
        table="accounts",
        target_table="accounts",
        key_columns=("iban",),
        keyless=False,
        source_rows=300,
        target_rows=300,
        matched_rows=299,
        missing_rows=1,
        extra_rows=1,
        duplicate_keys_source=0,
        duplicate_keys_target=0,
        changed_rows=0,
        rows_equal_under_rule=0,
        compared_columns=2,
        columns=(
            ColumnStats(column="iban", target_column="iban", compared=299, exact=299),
            ColumnStats(column="opened", target_column="opened", compared=299, exact=299),
        ),
        findings=findings,
        strategy="pushdown",
        seconds=0.5,
        started_at=STARTED + dt.timedelta(seconds=30),
        finished_at=STARTED + dt.timedelta(seconds=30.5),
    )


EXTRA_FINDINGS = (
    Finding(
        table="customers",
        category=Category.COLUMN_MISSING,
        severity=Severity.WARNING,
        column="legacy_flag",
        message="column legacy_flag is not in the target",
        check="schema",
    ),
    Finding(
        table="customers",
        category=Category.TYPE_NARROWED,
        severity=Severity.WARNING,
        column="name",
        source_value="varchar(255)",
        target_value="varchar(100)",
        message="name narrowed from varchar(255) to varchar(100)",
        check="schema",
    ),
    Finding(
        table="orders",
        category=Category.ORPHAN_ROW,
        severity=Severity.ERROR,
        column="customer_id",
        key={"order_id": 42},
        source_value=99,
        rule="fk:orders.customer_id->customers.id",
        message="order 42 references customer 99, which does not exist",
        check="integrity",
    ),
    Finding(
        table="orders",
        category=Category.SEQUENCE_BEHIND,
        severity=Severity.INFO,
        column="order_id",
        source_value=1500,
        target_value=1500,
        message="sequence orders_order_id_seq is at 1500, max(order_id) is 1500",
        check="schema",
    ),
)


def sample_report(
    *, clearance: Classification = Classification.INTERNAL, sample_limit: int = 1000, **overrides: object
) -> ReportData:
    options: dict[str, object] = {
        "spec_name": "shop",
        "spec_checksum": "sha256:5f1c0a9e2b7d4c3a",
        "source_url": "mysql://app:s3cret@legacy-db:3306/shop",
        "target_url": "postgresql://app@pg:5432/shop",
        "source_engine_version": "MariaDB 11.4.2",
        "target_engine_version": "PostgreSQL 17.2",
        "started_at": STARTED,
        "finished_at": STARTED + dt.timedelta(seconds=42),
        "launched_by": "schedule nightly_reconciliation",
        "tables": (customers_reconciliation(), accounts_reconciliation()),
        "extra_findings": EXTRA_FINDINGS,
        "checksum_manifest": {"customers": "sha256:9d4e1e23bd5b7277", "accounts": "sha256:1b4f0e9851971998"},
        "clearance": clearance,
        "column_classes": CLASSES,
        "thresholds": Thresholds(),
        "sample_limit": sample_limit,
        "run_id": "run-0001",
        "tool_version": "0.1.0",
        "generated_at": STARTED + dt.timedelta(seconds=43),
    }
    options.update(overrides)
    return build_report_data(**options)  # type: ignore[arg-type]


def assert_golden(name: str, actual: str) -> None:
    """Compare with a reviewed golden file; PM_UPDATE_GOLDEN=1 rewrites it (never done silently)."""
    path = GOLDEN / name
    if os.environ.get("PM_UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"golden file {path} is missing; review the output and create it with PM_UPDATE_GOLDEN=1")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, (
        f"{name} differs from its golden file; if the change is intended, regenerate with PM_UPDATE_GOLDEN=1 and review the diff"
    )
