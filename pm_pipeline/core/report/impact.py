"""Business impact: the executive summary's top issues and the few actions that fix the most.

Among errors, then among warnings: rows lost come first, then money and time values changed, other changed or surplus rows, broken
integrity, other schema differences, and last what only restates them (generated expectations,
checksums). A foreign key is one issue however many ways it is reported (missing, orphans).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pm_pipeline.core.findings import Category, Finding, JsonValue, Severity
from pm_pipeline.core.report.model import ReportData, TableSection, TopIssue

_ROWS_LOST = frozenset({Category.MISSING_ROW, Category.TABLE_MISSING})
_ROWS_CHANGED = frozenset({Category.EXTRA_ROW, Category.DUPLICATE_KEY, Category.VALUE_MISMATCH})
_RESTATED = frozenset({Category.EXPECTATION_FAILED, Category.CHECKSUM_MISMATCH})
_INTEGRITY = frozenset(
    {
        Category.ORPHAN_ROW,
        Category.FOREIGN_KEY_MISSING,
        Category.RULE_VIOLATION,
        Category.TEMPORAL_VIOLATION,
        Category.CHECK_ERROR,
        Category.SEQUENCE_BEHIND,
        Category.CONSTRAINT_MISSING,
        Category.PRIMARY_KEY_MISSING,
        Category.COLUMN_MISSING,
        Category.TYPE_INCOMPATIBLE,
        Category.TYPE_NARROWED,
    }
)
_FOREIGN_KEY = frozenset({Category.ORPHAN_ROW, Category.FOREIGN_KEY_MISSING})
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}|$)")
_DECIMAL = re.compile(r"^-?\d+\.\d+$")
_SEVERITY = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def _is_money_or_time(value: JsonValue) -> bool:
    if isinstance(value, float):
        return True
    return isinstance(value, str) and bool(_INSTANT.match(value) or _DECIMAL.match(value))


def impact_tier(finding: Finding) -> int:
    """0 rows lost, 1 money or time values changed, 2 other changed or surplus rows, 3 integrity
    broken, 4 other schema differences, 5 restatements of the above."""
    category = finding.category
    if category in _ROWS_LOST:
        return 0
    if category is Category.SYSTEMATIC_SHIFT or (
        category is Category.VALUE_MISMATCH
        and any(
            _is_money_or_time(v)
            for v in (finding.source_canonical, finding.target_canonical, finding.source_value)
        )
    ):
        return 1
    if category in _ROWS_CHANGED:
        return 2
    if category in _INTEGRITY:
        return 3
    if category in _RESTATED:
        return 5
    return 4


def _issue_key(finding: Finding) -> tuple[str, str, str, Severity]:
    # Orphans and the missing foreign key they hang under are one issue: the foreign key's.
    category = "foreign_key" if finding.category in _FOREIGN_KEY else str(finding.category)
    return (finding.table, finding.column or "", category, finding.severity)


def rank_issues(sections: Sequence[TableSection], *, limit: int) -> tuple[TopIssue, ...]:
    """Errors and warnings grouped by (table, column, category), ranked errors first (a warning is
    within what was accepted), then by impact tier, then by how many; consequences of other
    findings are not issues of their own."""
    groups: dict[tuple[str, str, str, Severity], list[Finding]] = defaultdict(list)
    counts: dict[tuple[str, str, str, Severity], int] = {}
    for section in sections:
        for finding in section.findings:
            if finding.severity is Severity.INFO or finding.caused_by:
                continue
            group = _issue_key(finding)
            groups[group].append(finding)
            counts[group] = len(groups[group])
            if section.findings_truncated and finding.category in _ROWS_LOST and not finding.column:
                # The list stopped early; the complete count is in the table's counts.
                counts[group] = max(counts[group], section.category_counts.get(group[2], 0))

    def order(group: tuple[str, str, str, Severity]) -> tuple[int, int, int, tuple[str, str, str]]:
        tier = min(impact_tier(f) for f in groups[group])
        return (_SEVERITY[group[3]], tier, -counts[group], group[:3])

    return tuple(_issue(group, groups[group], counts[group]) for group in sorted(groups, key=order)[:limit])


def _issue(group: tuple[str, str, str, Severity], findings: list[Finding], count: int) -> TopIssue:
    category, example = group[2], findings[0]
    if category == "foreign_key":
        # Named by what is worst: the key gone from the schema; counted by the rows it leaves orphaned.
        orphans = [f for f in findings if f.category is Category.ORPHAN_ROW]
        dropped = [f for f in findings if f.category is Category.FOREIGN_KEY_MISSING]
        category = str(Category.FOREIGN_KEY_MISSING if dropped else Category.ORPHAN_ROW)
        count, example = max(len(orphans), 1), (dropped or orphans)[0]
    return TopIssue(
        table=group[0],
        column=group[1] or None,
        category=category,
        severity=group[3],
        count=count,
        example=example.message,
    )


@dataclass(frozen=True)
class Action:
    """One fix and how many findings (consequences included) it would clear."""

    text: str
    fixes: int


_ACTIONS = (
    (_ROWS_LOST, "Load the missing rows again"),
    (frozenset({Category.EXTRA_ROW, Category.DUPLICATE_KEY}), "Remove the surplus or duplicated rows"),
    (frozenset({Category.VALUE_MISMATCH, Category.SYSTEMATIC_SHIFT}), "Correct the conversion of"),
    (
        frozenset(
            {
                Category.FOREIGN_KEY_MISSING,
                Category.PRIMARY_KEY_MISSING,
                Category.SEQUENCE_BEHIND,
                Category.CONSTRAINT_MISSING,
            }
        ),
        "Restore the target's keys, sequences and constraints on",
    ),
    (
        frozenset({Category.COLUMN_MISSING, Category.TYPE_INCOMPATIBLE, Category.TYPE_NARROWED}),
        "Restore the target's columns and types of",
    ),
)


def fix_actions(report: ReportData, *, limit: int = 3) -> tuple[Action, ...]:
    """The few actions that clear the most errors and warnings, most first; each names where."""
    findings = [f for section in report.tables for f in section.findings]
    actions = []
    for categories, verb in _ACTIONS:
        causes = [f for f in findings if f.category in categories and f.severity is not Severity.INFO]
        causes = [f for f in causes if not f.caused_by]
        if not causes:
            continue
        named = {str(c) for c in categories}
        fixes = len(causes) + sum(1 for f in findings if f.caused_by in named)
        actions.append(Action(text=f"{verb}: {_places(causes)}", fixes=fixes))
    return tuple(sorted(actions, key=lambda a: -a.fixes)[:limit])


def _places(findings: Iterable[Finding]) -> str:
    """``products.price (1), orders.ordered_at (1) and 3 more``: the most affected places first,
    and among equals those of most impact (money and time before other values)."""
    per_place: dict[str, int] = defaultdict(int)
    tiers: dict[str, int] = {}
    for finding in findings:
        place = f"{finding.table}.{finding.column}" if finding.column else finding.table
        per_place[place] += 1
        tiers[place] = min(tiers.get(place, 9), impact_tier(finding))
    shown = sorted(per_place, key=lambda p: (-per_place[p], tiers[p], p))
    text = ", ".join(f"{p} ({per_place[p]:,})" for p in shown[:4])
    return text + (f" and {len(shown) - 4:,} more" if len(shown) > 4 else "")
