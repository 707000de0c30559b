"""Link integrity findings that only repeat a reconciliation difference to it (``caused_by``).

One changed total shows up as a value mismatch, a checksum mismatch and a rule violation: one
defect, reported once as an error. The other two stay visible, marked ``caused_by`` with the
causing category and demoted to ``info``, so no count, verdict or summary counts them again.

The rule, applied after every check of a run:

* Causes are the rows reconciliation found different on a table: missing, extra, duplicate or
  changed rows (its counts, so a capped findings list loses none).
* Consequences are ``checksum_mismatch``, ``expectation_failed``, ``temporal_violation``,
  ``rule_violation`` and ``orphan_row`` findings of severity error or warning on the same table.
* A finding about one row (it carries a key) is linked only when that row is itself different:
  its key is among the extra, duplicate or changed rows (an orphan also when its parent row is
  missing from the referenced table; an aggregate rule's parent also when one of its child rows
  is missing, extra, duplicate or changed). When reconciliation capped its findings list, the
  rows it did not list cannot be told apart, and the table-level rule below applies instead.
* A finding about a column and no row (a range, an expectation) is linked to a value mismatch in
  that column, else to missing, extra or duplicate rows on the table (rows lost or gained move
  ranges and aggregates). A table-level finding (a checksum) is linked to any difference.

Reconciliation speaks in source names and integrity in target names: names are translated
through the table mapping (target table, column renames, the compared columns' target names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.findings import Category, Finding, JsonValue, Severity, TableReconciliation

if TYPE_CHECKING:  # integrity imports reconciliation, whose reports import this module
    from pm_pipeline.core.config.integrity import IntegritySettings

CONSEQUENCES = frozenset(
    {
        Category.CHECKSUM_MISMATCH,
        Category.EXPECTATION_FAILED,
        Category.TEMPORAL_VIOLATION,
        Category.RULE_VIOLATION,
        Category.ORPHAN_ROW,
    }
)
# A table-level consequence names the first of these the table has.
_TABLE_CAUSES = (Category.MISSING_ROW, Category.EXTRA_ROW, Category.DUPLICATE_KEY, Category.VALUE_MISMATCH)
_KEYED_CAUSES = (Category.VALUE_MISMATCH, Category.EXTRA_ROW, Category.DUPLICATE_KEY)
# referential.Relation.label: "(customer_id) -> customers(id)"
_REFERENCE = re.compile(r"\) -> (?P<table>.+)\((?P<columns>[^()]*)\)$")

Key = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class ChildSum:
    """An aggregate rule in target names: each ``table`` row (``key``) sums ``child_table`` rows
    whose ``child_key`` equals it, so a child row that differs explains a parent's violation."""

    rule: str
    table: str
    key: tuple[str, ...]
    child_table: str
    child_key: tuple[str, ...]


def child_sums(settings: IntegritySettings) -> tuple[ChildSum, ...]:
    """The aggregate rules of an integrity section, as :func:`link_consequences` reads them."""
    return tuple(
        ChildSum(rule.name, rule.table, tuple(rule.key), rule.child_table, tuple(rule.child_key))
        for rule in settings.rules
        if rule.kind == "aggregate"
    )


@dataclass
class _Causes:
    """The differences reconciliation found on one table, in target names."""

    categories: set[Category] = field(default_factory=set)
    columns: set[str] = field(default_factory=set)  # columns with changed values
    keys: dict[Category, set[Key]] = field(default_factory=dict)  # rows listed per category
    complete: bool = True  # every different row is listed


def _key(key: Mapping[str, JsonValue], names: Mapping[str, str]) -> Key:
    return frozenset((names.get(name, name).lower(), str(value)) for name, value in key.items())


def _causes(
    tables: Iterable[TableReconciliation], mappings: Mapping[str, TableMapping]
) -> dict[str, _Causes]:
    found: dict[str, _Causes] = {}
    by_source: dict[str, _Causes] = {}
    for table in tables:
        mapping = mappings.get(table.table)
        names = {**(mapping.renames if mapping else {}), **{c.column: c.target_column for c in table.columns}}
        causes = _Causes(complete=not table.findings_truncated)
        counts = {
            Category.MISSING_ROW: table.missing_rows,
            Category.EXTRA_ROW: table.extra_rows,
            Category.DUPLICATE_KEY: table.duplicate_keys_source + table.duplicate_keys_target,
            Category.VALUE_MISMATCH: table.changed_rows,
        }
        causes.categories = {category for category, count in counts.items() if count}
        causes.columns = {c.target_column.lower() for c in table.columns if c.mismatched}
        for finding in table.findings:
            if finding.category not in counts or finding.severity is Severity.INFO:
                continue
            causes.categories.add(finding.category)
            if finding.category is Category.VALUE_MISMATCH and finding.column:
                causes.columns.add(names.get(finding.column, finding.column).lower())
            if finding.key is not None:
                causes.keys.setdefault(finding.category, set()).add(_key(finding.key, names))
        found[table.target_table.lower()] = causes
        by_source[table.table.lower()] = causes
    # Integrity speaks target names: a source name only answers where no target table has it (one
    # table's target name may be another's source name).
    return {**by_source, **found}


def _row_cause(
    finding: Finding, causes: _Causes | None, found: Mapping[str, _Causes], sums: Sequence[ChildSum]
) -> Category | None:
    assert finding.key is not None
    key = _key(finding.key, {})
    for category in _KEYED_CAUSES:
        if causes is not None and key in causes.keys.get(category, set()):
            return category
    if finding.category is Category.ORPHAN_ROW:
        parent = _missing_parent(finding, found)
        if parent is not None:
            return parent
    if finding.category is Category.RULE_VIOLATION:
        child = _child_cause(finding, found, sums)
        if child is not None:
            return child
    return None if causes is None or causes.complete else _table_cause(finding, causes)


def _child_cause(finding: Finding, found: Mapping[str, _Causes], sums: Sequence[ChildSum]) -> Category | None:
    """The difference among the child rows an aggregate rule's parent row sums, if any."""
    assert finding.key is not None
    for rule in sums:
        if rule.rule != finding.rule or rule.table.lower() != finding.table.lower():
            continue
        children = found.get(rule.child_table.lower())
        if children is None:
            continue
        values = {name.lower(): str(value) for name, value in finding.key.items()}
        wanted = tuple(values.get(name.lower()) for name in rule.key)
        child_key = [name.lower() for name in rule.child_key]
        for category in _TABLE_CAUSES:
            for row in children.keys.get(category, set()):
                named = dict(row)
                if tuple(named.get(name) for name in child_key) == wanted:
                    return category
        if not children.complete:
            return next((c for c in _TABLE_CAUSES if c in children.categories), None)
    return None


def _missing_parent(finding: Finding, found: Mapping[str, _Causes]) -> Category | None:
    reference = _REFERENCE.search(finding.rule or "")
    if reference is None:
        return None
    parent = found.get(reference.group("table").lower())
    if parent is None or Category.MISSING_ROW not in parent.categories:
        return None
    if not parent.complete:
        return Category.MISSING_ROW
    columns = [c.strip() for c in reference.group("columns").split(",")]
    values = finding.target_value if isinstance(finding.target_value, list) else [finding.target_value]
    wanted: Key = frozenset((c.lower(), str(v)) for c, v in zip(columns, values, strict=False))
    return Category.MISSING_ROW if wanted in parent.keys.get(Category.MISSING_ROW, set()) else None


def _table_cause(finding: Finding, causes: _Causes) -> Category | None:
    columns = [c.strip().lower() for c in (finding.column or "").split(",") if c.strip()]
    if columns:
        if Category.VALUE_MISMATCH in causes.categories and any(c in causes.columns for c in columns):
            return Category.VALUE_MISMATCH
        return next((c for c in _TABLE_CAUSES[:3] if c in causes.categories), None)
    return next((c for c in _TABLE_CAUSES if c in causes.categories), None)


def link_consequences(
    findings: Sequence[Finding],
    *,
    tables: Iterable[TableReconciliation],
    mappings: Iterable[TableMapping] = (),
    sums: Sequence[ChildSum] = (),
) -> tuple[Finding, ...]:
    """``findings`` in the same order, each consequence of a reconciliation difference marked
    ``caused_by`` and demoted to info. Findings already linked are left as they are. ``sums``
    (:func:`child_sums`) lets an aggregate rule's violation be linked to its child rows."""
    found = _causes(tables, {m.source: m for m in mappings})
    if not found:
        return tuple(findings)
    linked: list[Finding] = []
    for finding in findings:
        causes = found.get(finding.table.lower())
        cause = None
        if (
            finding.caused_by is None
            and finding.category in CONSEQUENCES
            and finding.severity is not Severity.INFO
        ):
            if finding.key is not None:
                cause = _row_cause(finding, causes, found, sums)
            elif causes is not None:
                cause = _table_cause(finding, causes)
        linked.append(
            finding if cause is None else replace(finding, caused_by=str(cause), severity=Severity.INFO)
        )
    return tuple(linked)
