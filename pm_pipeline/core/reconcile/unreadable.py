"""Findings for values a side holds that cannot be read as their column's family."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from pm_pipeline.core.findings import Category, Finding, Severity, json_value
from pm_pipeline.core.reconcile.planning import TablePlan
from pm_pipeline.core.reconcile.stash import Unreadable
from pm_pipeline.core.report.redact import Redactor


def unreadable_findings(
    plan: TablePlan, unreadable: Sequence[Unreadable], *, redactor: Redactor | None
) -> list[Finding]:
    """One ``unreadable_value`` finding per value, ordered by side, column and key.

    An error: the value was compared as NULL, so the check cannot vouch for it (a target that lost
    it to NULL would otherwise pass). The raw text goes through the redactor like any value."""
    findings = []
    ordered = sorted(unreadable, key=lambda item: (item[0].side, item[0].column, repr(item[1])))
    for cell, key in ordered:
        finding = Finding(
            table=plan.table,
            category=Category.UNREADABLE_VALUE,
            severity=Severity.ERROR,
            column=cell.column,
            key=None
            if plan.keyless
            else {p.name: json_value(v) for p, v in zip(plan.keys, key, strict=True)},
            source_value=cell.raw if cell.side == "source" else None,
            target_value=cell.raw if cell.side == "target" else None,
            rule="unreadable",
            message=(
                f"{cell.side} value {cell.raw!r} of column {cell.column} ({cell.data_type}) cannot be read "
                f"as {cell.family}: it was compared as NULL"
            ),
        )
        findings.append(finding if redactor is None else redactor.redact(finding))
    return findings


def linked_to_unreadable(findings: Sequence[Finding], unreadable: Sequence[Finding]) -> list[Finding]:
    """``findings`` with each value_mismatch of a cell that holds an unreadable value marked
    ``caused_by`` it and demoted to info: one defect, one error. A mismatch whose key was masked
    cannot be matched to its cell and stays as it is."""
    cells = {(f.column, _key_text(f.key)) for f in unreadable}
    return [
        replace(finding, caused_by=str(Category.UNREADABLE_VALUE), severity=Severity.INFO)
        if finding.category is Category.VALUE_MISMATCH
        and finding.caused_by is None
        and (finding.column, _key_text(finding.key)) in cells
        else finding
        for finding in findings
    ]


def _key_text(key: Mapping[str, object] | None) -> str:
    return repr(sorted((key or {}).items()))
