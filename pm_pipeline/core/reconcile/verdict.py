"""The Dagster asset checks of one table as plain data: views of the run's one verdict
(:mod:`pm_pipeline.core.verdict`), tested without Dagster.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pm_pipeline.core.config.spec import TableMapping, Thresholds
from pm_pipeline.core.consequences import link_consequences
from pm_pipeline.core.findings import Finding, Severity, TableReconciliation
from pm_pipeline.core.names import in_source_names
from pm_pipeline.core.verdict import Area, RunVerdict, VerdictState, area_of, decide

ROWS_MATCH = "rows_match"
VALUES_MATCH = "values_match"
SCHEMA_MATCH = "schema_match"
INTEGRITY_OK = "integrity_ok"
CHECK_NAMES = (ROWS_MATCH, VALUES_MATCH, SCHEMA_MATCH, INTEGRITY_OK)

SAMPLE_KEYS = 20
_AREAS = {
    ROWS_MATCH: Area.ROWS,
    VALUES_MATCH: Area.VALUES,
    SCHEMA_MATCH: Area.SCHEMA,
    INTEGRITY_OK: Area.INTEGRITY,
}


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    severity: Severity  # ERROR fails (and blocks); WARNING is tolerated
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _outcome(
    name: str, verdict: RunVerdict, findings: list[Finding], description_ok: str, extra: dict[str, Any]
) -> CheckOutcome:
    area = _AREAS[name]
    problems = [p for t in verdict.tables for p in t.problems if p.area is area]
    state = next(
        (s for s in (VerdictState.FAIL, VerdictState.INCOMPLETE) if any(p.state is s for p in problems)),
        VerdictState.PASS_WITH_WARNINGS if problems else VerdictState.PASS,
    )
    counted = [f for f in findings if f.caused_by is None]
    by_category = Counter(str(f.category) for f in counted)
    metadata: dict[str, Any] = {**extra, "findings": len(counted), "by_category": dict(by_category)}
    consequences = len(findings) - len(counted)
    if consequences:
        metadata["consequences"] = consequences
    reasons = "; ".join(p.reason for p in problems if p.state is state)
    if state in (VerdictState.FAIL, VerdictState.INCOMPLETE):
        errors = [f for f in counted if f.severity is Severity.ERROR]
        metadata.update(
            {
                "sample_keys": [f.key for f in errors if f.key is not None][:SAMPLE_KEYS],
                "columns": sorted({f.column for f in errors if f.column}),
            }
        )
        word = "failed" if state is VerdictState.FAIL else "incomplete"
        return CheckOutcome(name, False, Severity.ERROR, f"{word}: {reasons}", metadata)
    if state is VerdictState.PASS_WITH_WARNINGS:
        return CheckOutcome(name, True, Severity.WARNING, f"tolerated: {reasons}", metadata)
    return CheckOutcome(name, True, Severity.ERROR, description_ok, metadata)


def evaluate_table(
    result: TableReconciliation,
    *,
    thresholds: Thresholds,
    schema_findings: tuple[Finding, ...] = (),
    integrity_findings: tuple[Finding, ...] = (),
    mapping: TableMapping | None = None,
) -> list[CheckOutcome]:
    """The four checks of a reconciled table (rows, values with the match score, schema,
    integrity), read from the one verdict (:func:`pm_pipeline.core.verdict.decide`): a check fails
    when its area holds a failing or incomplete reason, so the table passes only if all four do.
    Integrity findings that repeat a reconciliation difference are linked to it first."""
    mappings = [mapping] if mapping is not None else []
    integrity = in_source_names(
        link_consequences(integrity_findings, tables=[result], mappings=mappings),
        tables=[result],
        mappings=mappings,
    )
    verdict = decide(
        findings=[*schema_findings, *integrity],
        tables=[result],
        thresholds=thresholds,
        table_names={result.table: result.target_table},
    )
    diff = {"diff_path": result.diff_path} if result.diff_path else {}
    rows = _outcome(
        ROWS_MATCH,
        verdict,
        [f for f in result.findings if area_of(f) is Area.ROWS],
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
        verdict,
        [f for f in result.findings if area_of(f) is Area.VALUES],
        "every compared cell is equal, exactly or under a declared rule",
        {"changed_rows": result.changed_rows, "match_score": result.match_score, **diff},
    )
    schema = _outcome(
        SCHEMA_MATCH,
        verdict,
        [f for f in (*schema_findings, *integrity) if area_of(f) is Area.SCHEMA],
        "the target schema keeps everything the source declares",
        {},
    )
    integrity_ok = _outcome(
        INTEGRITY_OK,
        verdict,
        [f for f in (*schema_findings, *integrity) if area_of(f) is Area.INTEGRITY],
        "no orphans, rule or temporal violations, sequences ahead, checksums and expectations hold",
        {},
    )
    return [rows, values, schema, integrity_ok]
