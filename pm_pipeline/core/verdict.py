"""The one verdict of a run: findings, thresholds and match scores -> pass, pass with warnings,
fail or incomplete, per table and overall.

The CLI's exit code, the Dagster asset checks, the reports' verdict and the findings JSON all
read :func:`decide`, so they cannot disagree. The rules:

* a finding linked to another (``caused_by``) is a consequence: it is never counted;
* a ``check_error`` finding makes its table *incomplete*: a check could not run to the end, so
  the table cannot pass (it still fails if something else failed);
* a finding whose category is in ``thresholds.tolerated_categories`` counts as a warning (for
  every check, not only reconciliation); any other finding counts with its own severity, which
  reconciliation set from the count limits (``max_missing_rows``, ``max_extra_rows``,
  ``max_duplicate_keys``, ``max_changed_rows``: at or below the limit a warning, above an error;
  a partitioned table's buckets are combined before the limits apply);
* a reconciled table fails when its match score is below ``min_match_score``, tolerated
  differences or not: the score is a threshold of its own;
* a table with warnings and nothing worse passes with warnings;
* the run takes the worst state of its tables: fail, then incomplete, then pass with warnings.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pm_pipeline.core.config.spec import Thresholds
from pm_pipeline.core.findings import Category, Finding, Severity, TableReconciliation


class VerdictState(StrEnum):
    PASS = "pass"
    PASS_WITH_WARNINGS = "pass_with_warnings"
    FAIL = "fail"
    INCOMPLETE = "incomplete"

    @property
    def passed(self) -> bool:
        return self in (VerdictState.PASS, VerdictState.PASS_WITH_WARNINGS)


# Worst first: a table (or run) takes the first state any of its problems has.
_RANK = (VerdictState.FAIL, VerdictState.INCOMPLETE, VerdictState.PASS_WITH_WARNINGS, VerdictState.PASS)


class Area(StrEnum):
    """What a problem is about; the Dagster checks rows_match, values_match, schema_match and
    integrity_ok are one per area."""

    ROWS = "rows"
    VALUES = "values"
    SCHEMA = "schema"
    INTEGRITY = "integrity"
    PERFORMANCE = "performance"


@dataclass(frozen=True)
class Problem:
    """One reason a table does not simply pass."""

    area: Area
    state: VerdictState  # FAIL, INCOMPLETE or PASS_WITH_WARNINGS
    reason: str


@dataclass(frozen=True)
class TableVerdict:
    table: str
    state: VerdictState
    problems: tuple[Problem, ...]
    match_score: float | None
    errors: int  # findings counted as errors (consequences and check errors excluded)
    warnings: int
    consequences: int  # findings linked to another (caused_by), not counted
    incomplete_checks: tuple[str, ...]  # the checks that could not run to the end, as named

    @property
    def passed(self) -> bool:
        return self.state.passed

    def area_state(self, area: Area) -> VerdictState:
        return _worst(p.state for p in self.problems if p.area is area)

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "state": str(self.state),
            "passed": self.passed,
            "match_score": self.match_score,
            "errors": self.errors,
            "warnings": self.warnings,
            "consequences": self.consequences,
            "incomplete_checks": list(self.incomplete_checks),
            "reasons": [
                {"area": str(p.area), "state": str(p.state), "reason": p.reason} for p in self.problems
            ],
        }


@dataclass(frozen=True)
class RunVerdict:
    state: VerdictState
    tables: tuple[TableVerdict, ...]

    @property
    def passed(self) -> bool:
        return self.state.passed

    @property
    def incomplete_checks(self) -> tuple[str, ...]:
        return tuple(check for t in self.tables for check in t.incomplete_checks)

    def table(self, name: str) -> TableVerdict | None:
        return next((t for t in self.tables if t.table == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "state": str(self.state),
            "passed": self.passed,
            "errors": sum(t.errors for t in self.tables),
            "warnings": sum(t.warnings for t in self.tables),
            "consequences": sum(t.consequences for t in self.tables),
            "incomplete_checks": list(self.incomplete_checks),
            "tables": [t.to_json() for t in self.tables],
        }


def _worst(states: Iterable[VerdictState]) -> VerdictState:
    seen = set(states)
    return next((state for state in _RANK if state in seen), VerdictState.PASS)


def area_of(finding: Finding) -> Area:
    if finding.category is Category.VALUE_MISMATCH:
        return Area.VALUES
    if finding.check == "reconciliation":
        return Area.ROWS
    if finding.check == "performance":
        return Area.PERFORMANCE
    return Area.SCHEMA if finding.check == "schema" else Area.INTEGRITY


def incomplete_label(finding: Finding) -> str:
    where = finding.table + (f".{finding.column}" if finding.column else "")
    return f"{finding.check}: {finding.rule or finding.category} on {where}"


def _score_problems(result: TableReconciliation, thresholds: Thresholds) -> list[Problem]:
    if result.match_score >= thresholds.min_match_score:
        return []
    reason = f"match score {result.match_score:.4%} is below min_match_score {thresholds.min_match_score:.4%}"
    return [Problem(Area.VALUES, VerdictState.FAIL, reason)]


def _table_verdict(
    name: str, findings: Sequence[Finding], result: TableReconciliation | None, thresholds: Thresholds
) -> TableVerdict:
    problems: list[Problem] = [] if result is None else _score_problems(result, thresholds)
    severities: Counter[tuple[Area, VerdictState]] = Counter()
    categories: dict[tuple[Area, VerdictState], Counter[str]] = defaultdict(Counter)
    incomplete: list[str] = []
    errors = warnings = consequences = 0
    for finding in findings:
        if finding.caused_by is not None:
            consequences += 1
            continue
        if finding.category is Category.CHECK_ERROR:
            incomplete.append(incomplete_label(finding))
            problems.append(Problem(area_of(finding), VerdictState.INCOMPLETE, finding.message))
            continue
        severity = finding.severity
        if severity is Severity.ERROR and str(finding.category) in thresholds.tolerated_categories:
            severity = Severity.WARNING
        if severity is Severity.INFO:
            continue
        state = VerdictState.FAIL if severity is Severity.ERROR else VerdictState.PASS_WITH_WARNINGS
        errors += severity is Severity.ERROR
        warnings += severity is Severity.WARNING
        group = (area_of(finding), state)
        severities[group] += 1
        categories[group][str(finding.category)] += 1
    for (area, state), count in severities.items():
        summary = ", ".join(f"{n:,} {c}" for c, n in sorted(categories[(area, state)].items()))
        word = "error" if state is VerdictState.FAIL else "warning"
        problems.append(Problem(area, state, f"{count:,} {word} finding(s): {summary}"))
    return TableVerdict(
        table=name,
        state=_worst(p.state for p in problems),
        problems=tuple(problems),
        match_score=None if result is None else result.match_score,
        errors=errors,
        warnings=warnings,
        consequences=consequences,
        incomplete_checks=tuple(incomplete),
    )


def decide(
    *,
    findings: Iterable[Finding],
    tables: Sequence[TableReconciliation] = (),
    thresholds: Thresholds,
    table_names: Mapping[str, str] | None = None,
) -> RunVerdict:
    """The verdict of a run from every finding not already inside ``tables`` (schema, integrity,
    check errors, ...), the reconciled ``tables`` and the spec's ``thresholds``.

    Findings are grouped under the source table name: a finding named after a target table
    (integrity speaks in target names) is filed under its source table through the reconciled
    tables and ``table_names`` (source -> target)."""
    to_source = {target.lower(): source for source, target in (table_names or {}).items()}
    to_source.update({t.target_table.lower(): t.table for t in tables})
    grouped: dict[str, list[Finding]] = defaultdict(list)
    order: list[str] = [t.table for t in tables]
    known = set(order) | set(to_source.values())
    for finding in [*(f for t in tables for f in t.findings), *findings]:
        name = (
            finding.table if finding.table in known else to_source.get(finding.table.lower(), finding.table)
        )
        grouped[name].append(finding)
        if name not in order:
            order.append(name)
    results = {t.table: t for t in tables}
    verdicts = tuple(_table_verdict(name, grouped[name], results.get(name), thresholds) for name in order)
    return RunVerdict(state=_worst(t.state for t in verdicts), tables=verdicts)
