"""Findings grouped for the console: the order of importance, the examples by key, values made visible."""

from __future__ import annotations

from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.core.report.groups import group_findings, key_text, visible


def _finding(
    category: Category, *, key: int | None = None, column: str | None = None, **extra: object
) -> Finding:
    return Finding(
        table="orders",
        category=category,
        severity=extra.pop("severity", Severity.ERROR),  # type: ignore[arg-type]
        column=column,
        key=None if key is None else {"id": key},
        message=str(extra.pop("message", "")),
        **extra,  # type: ignore[arg-type]
    )


def test_lost_rows_and_changed_values_come_before_schema_and_consequences() -> None:
    findings = [
        _finding(
            Category.CHECKSUM_MISMATCH, caused_by="missing_row", severity=Severity.INFO, message="sums differ"
        ),
        _finding(Category.COLUMN_MISSING, column="note", message="column is missing"),
        _finding(Category.INDEX_MISSING, severity=Severity.WARNING, message="index lost"),
        _finding(Category.VALUE_MISMATCH, key=3, column="total", message="values differ"),
        *(_finding(Category.MISSING_ROW, key=k, message="row is missing") for k in (256, 17, 42, 300)),
        _finding(Category.COLUMN_RENAMED, severity=Severity.INFO, message="matched by normalised name"),
    ]
    groups = group_findings(findings)
    assert [g.category for g in groups] == [
        "missing_row",
        "value_mismatch",
        "column_missing",
        "index_missing",
        "checksum_mismatch",
    ]  # the plain information (a column paired by name) stays in the reports
    missing = groups[0]
    assert missing.count == 4
    # By key value (not as emitted, nor as text, where '256' < '42')
    assert [f.key for f in missing.examples] == [{"id": 17}, {"id": 42}, {"id": 256}]


def test_changed_money_and_times_come_before_other_changed_values() -> None:
    renamed = [
        _finding(Category.VALUE_MISMATCH, key=k, column="city", message="differs", source_canonical=f"c{k}")
        for k in (1, 2, 3)
    ]
    money = _finding(
        Category.VALUE_MISMATCH, key=4, column="amount", message="differs", source_canonical="10.50"
    )
    shifted = _finding(
        Category.VALUE_MISMATCH,
        key=5,
        column="paid_at",
        message="shifted",
        source_canonical="2023-02-20T10:54:00+00:00",
    )
    groups = group_findings([*renamed, money, shifted])
    # Fewer rows, but money and time: first. Among equals, the larger group first.
    assert [g.column for g in groups] == ["amount", "paid_at", "city"]
    # Without examples (counts only) the order is the same.
    assert [g.column for g in group_findings([*renamed, money, shifted], examples=0)] == [
        "amount",
        "paid_at",
        "city",
    ]


def test_explanations_that_differ_only_in_numbers_are_one_group() -> None:
    findings = [
        _finding(
            Category.VALUE_MISMATCH,
            key=k,
            column="name",
            message=f"target text is truncated ({n} of 9 characters)",
        )
        for k, n in ((1, 3), (2, 5))
    ] + [_finding(Category.VALUE_MISMATCH, key=4, column="name", message="differs only in letter case")]
    groups = group_findings(findings)
    assert sorted((g.count, g.explanation) for g in groups) == [
        (1, "differs only in letter case"),
        (2, "target text is truncated (3 of 9 characters)"),
    ]


def test_values_that_print_alike_look_different() -> None:
    assert visible("Edinburgh ") == "'Edinburgh␠'"
    assert visible("  two") == "'␠␠two'"
    assert visible("a b") == "'a b'"  # an ordinary space between words stays a space
    assert visible("tab\there") == "'tab␉here'"
    assert visible("zero\u200bwidth") == "'zero\\u200bwidth'"
    assert visible("no\u00a0break") == "'no⍽break'"
    assert visible(None) == "NULL"
    assert visible(12.5) == "12.5"
    assert visible(" ") == "'␠'"
    assert key_text({"id": 7, "code": "A "}) == "id=7, code='A␠'"
