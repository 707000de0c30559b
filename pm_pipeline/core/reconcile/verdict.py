"""Pass/fail of one table's reconciliation against the spec's thresholds, as plain data.

The Dagster asset checks are views of these outcomes; the arithmetic lives here so it is tested
without Dagster.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pm_pipeline.core.config.spec import Thresholds
from pm_pipeline.core.findings import Category, Finding, Severity, TableReconciliation

ROWS_MATCH = "rows_match"
VALUES_MATCH = "values_match"
SCHEMA_MATCH = "schema_match"
INTEGRITY_OK = "integrity_ok"
CHECK_NAMES = (ROWS_MATCH, VALUES_MATCH, SCHEMA_MATCH, INTEGRITY_OK)

_ROW_CATEGORIES = {Category.MISSING_ROW, Category.EXTRA_ROW, Category.DUPLICATE_KEY}
SAMPLE_KEYS = 20


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    severity: Severity  # ERROR fails (and blocks); WARNING is tolerated
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _outcome(name: str, findings: list[Finding], description_ok: str, extra: dict[str, Any]) -> CheckOutcome:
    errors = [f for f in findings if f.severity is Severity.ERROR]
    warnings = [f for f in findings if f.severity is Severity.WARNING]
    by_category = Counter(str(f.category) for f in findings)
    metadata: dict[str, Any] = {**extra, "findings": len(findings), "by_category": dict(by_category)}
    if errors:
        sample = [f.key for f in errors if f.key is not None][:SAMPLE_KEYS]
        columns = sorted({f.column for f in errors if f.column})
        metadata.update({"sample_keys": sample, "columns": columns})
        summary = ", ".join(f"{n} {c}" for c, n in by_category.most_common())
        return CheckOutcome(name, False, Severity.ERROR, f"failed: {summary}", metadata)
    if warnings:
        return CheckOutcome(
            name, True, Severity.WARNING, f"tolerated: {len(warnings)} finding(s) within thresholds", metadata
        )
    return CheckOutcome(name, True, Severity.ERROR, description_ok, metadata)


def evaluate_table(
    result: TableReconciliation,
    *,
    thresholds: Thresholds,
    schema_findings: tuple[Finding, ...] = (),
    integrity_findings: tuple[Finding, ...] = (),
) -> list[CheckOutcome]:
    """The four checks of a reconciled table: rows, values (with the match score), schema, integrity."""
    diff = {"diff_path": result.diff_path} if result.diff_path else {}
    rows = _outcome(
        ROWS_MATCH,
        [f for f in result.findings if f.category in _ROW_CATEGORIES],
        "every key is present once on both sides",
        {
            "missing_rows": result.missing_rows,
            "extra_rows": result.extra_rows,
            "duplicate_keys": result.duplicate_keys_source + result.duplicate_keys_target,
            **diff,
        },
    )
    values = _outcome(
        VALUES_MATCH,
        [f for f in result.findings if f.category is Category.VALUE_MISMATCH],
        "every compared cell is equal, exactly or under a declared rule",
        {"changed_rows": result.changed_rows, "match_score": result.match_score, **diff},
    )
    if values.passed and result.match_score < thresholds.min_match_score:
        values = CheckOutcome(
            VALUES_MATCH,
            False,
            Severity.ERROR,
            f"match score {result.match_score:.4%} is below the threshold {thresholds.min_match_score:.4%}",
            values.metadata,
        )
    schema = _outcome(
        SCHEMA_MATCH, list(schema_findings), "the target schema keeps everything the source declares", {}
    )
    integrity = _outcome(
        INTEGRITY_OK,
        list(integrity_findings),
        "no orphans, rule or temporal violations, sequences ahead, checksums and expectations hold",
        {},
    )
    return [rows, values, schema, integrity]
