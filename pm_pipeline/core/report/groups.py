"""Findings grouped by table, column and explanation, most important first: what the console shows.

A person reading a check's output first needs the rows that were lost and the values that changed,
then what the schema lost, and last what merely repeats a difference already shown (a
consequence). Values are shown so that two texts that print alike never look equal: white space
at either end and invisible characters are made visible ('Edinburgh␠').
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from pm_pipeline.core.findings import Category, Finding, JsonValue, Severity
from pm_pipeline.core.report.impact import impact_tier

# Lost and changed data first, then what breaks the data's meaning, then the schema.
_CATEGORY_ORDER = (
    Category.MISSING_ROW,
    Category.VALUE_MISMATCH,
    Category.UNREADABLE_VALUE,
    Category.EXTRA_ROW,
    Category.DUPLICATE_KEY,
    Category.TABLE_MISSING,
    Category.CHECK_ERROR,
    Category.ORPHAN_ROW,
    Category.RULE_VIOLATION,
    Category.SYSTEMATIC_SHIFT,
    Category.TEMPORAL_VIOLATION,
    Category.CHECKSUM_MISMATCH,
    Category.EXPECTATION_FAILED,
    Category.COLUMN_MISSING,
    Category.TYPE_INCOMPATIBLE,
    Category.TYPE_NARROWED,
    Category.PRIMARY_KEY_MISSING,
    Category.NULLABILITY_CHANGED,
    Category.CONSTRAINT_MISSING,
    Category.FOREIGN_KEY_MISSING,
    Category.SEQUENCE_BEHIND,
    Category.DEFAULT_MISSING,
    Category.INDEX_MISSING,
    Category.COLUMN_EXTRA,
    Category.COLUMN_RENAMED,
    Category.TYPE_CHANGED,
)
_CATEGORY_RANK = {str(category): rank for rank, category in enumerate(_CATEGORY_ORDER)}
_SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
_NUMBERS = re.compile(r"\d+")
# Shown instead of characters that print as nothing or as a plain space.
_VISIBLE = {" ": "␠", "\t": "␉", "\n": "␤", "\r": "␍", "\u00a0": "⍽"}


@dataclass(frozen=True)
class FindingGroup:
    """Findings of one kind at one place: same table, column, category, severity and explanation."""

    table: str
    column: str | None
    category: str
    severity: Severity
    explanation: str
    caused_by: str | None
    count: int
    examples: tuple[Finding, ...]
    impact: int = 0  # the highest business impact among all its findings (report.impact tiers)

    @property
    def check(self) -> str:
        """The check that found them (reconciliation, schema, integrity, ...)."""
        return self.examples[0].check if self.examples else ""

    @property
    def where(self) -> str:
        return self.table if self.column is None else f"{self.table}.{self.column}"


def shown_in_console(finding: Finding) -> bool:
    """Errors, warnings and consequences; other information (a column paired by name) stays in the reports."""
    return finding.severity is not Severity.INFO or finding.caused_by is not None


def group_findings(findings: Iterable[Finding], *, examples: int = 3) -> list[FindingGroup]:
    """The findings in groups, most important first; each group keeps its first ``examples``
    findings in key order (rows sorted by key, never by the order the checks happened to emit)."""
    members: dict[tuple[str, str | None, str, Severity, str, str | None], list[Finding]] = {}
    for finding in findings:
        if not shown_in_console(finding):
            continue
        # Numbers inside an explanation vary per row ("truncated (3 of 5 characters)"): one group.
        explanation = _NUMBERS.sub("#", finding.message)
        place = (finding.table, finding.column, str(finding.category), finding.severity, explanation)
        members.setdefault((*place, finding.caused_by), []).append(finding)
    groups = []
    for (table, column, category, severity, _, caused_by), found in members.items():
        ordered = sorted(found, key=_key_order)
        groups.append(
            FindingGroup(
                table=table,
                column=column,
                category=category,
                severity=severity,
                explanation=ordered[0].message,
                caused_by=caused_by,
                count=len(found),
                examples=tuple(ordered[:examples]),
                impact=min(impact_tier(f) for f in found),
            )
        )
    return sorted(groups, key=_importance)


def _importance(group: FindingGroup) -> tuple[int, int, int, int, int, str, str]:
    # Within a category, business impact first: changed money and times before other changes.
    return (
        group.caused_by is not None,
        _SEVERITY_RANK[group.severity],
        _CATEGORY_RANK.get(group.category, len(_CATEGORY_RANK)),
        group.impact,
        -group.count,
        group.table,
        group.column or "",
    )


def _key_order(finding: Finding) -> tuple[tuple[int, float, str], ...]:
    """Keys in their values' order: numbers by value (id=42 before id=256), then text."""
    return tuple(_value_order(value) for value in (finding.key or {}).values())


def _value_order(value: JsonValue) -> tuple[int, float, str]:
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, bool | int | float):
        return (1, float(value), "")
    if isinstance(value, str):
        return (2, 0.0, value)
    return (3, 0.0, json.dumps(value, sort_keys=True, ensure_ascii=False))


def visible(value: JsonValue) -> str:
    """A value as the console shows it: text quoted, white space at either end and invisible
    characters made visible, NULL as NULL, anything else as JSON."""
    if value is None:
        return "NULL"
    if not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    body = value.strip(" ")
    lead = len(value) - len(value.lstrip(" "))
    trail = len(value) - len(value.rstrip(" ")) if body else 0
    shown = "␠" * lead + "".join(_visible_char(c) for c in body) + "␠" * trail
    return f"'{shown}'"


def _visible_char(char: str) -> str:
    if char in _VISIBLE and char != " ":
        return _VISIBLE[char]
    if char != " " and unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp", "Co", "Cn"):
        return f"\\u{ord(char):04x}"  # zero-width, bidi and other characters that print as nothing
    return char


def key_text(key: dict[str, JsonValue] | None) -> str:
    """``id=7`` or ``order_id=3, line=2``; an empty text for findings about no row."""
    if not key:
        return ""
    return ", ".join(f"{name}={visible(value)}" for name, value in key.items())
