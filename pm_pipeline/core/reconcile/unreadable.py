"""Findings for values a side holds that cannot be read as their column's family."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace

from pm_pipeline.core.canonical.unreadable import UnreadableCell
from pm_pipeline.core.findings import Category, Finding, JsonValue, Severity, json_value
from pm_pipeline.core.reconcile.planning import TablePlan
from pm_pipeline.core.reconcile.stash import Unreadable
from pm_pipeline.core.security.redaction import Redactor

UNREADABLE_SAMPLE = 20  # findings listed per column and side; the rest are counted in one more
EXAMPLE_KEYS = 5  # keys named in a column's summary


def unreadable_findings(
    plan: TablePlan, unreadable: Sequence[Unreadable], *, redactor: Redactor | None
) -> list[Finding]:
    """The ``unreadable_value`` findings of one table, ordered by column, side and key.

    A value both sides hold as the same raw text at the same key (for a keyless table: as many
    times on each side) was copied faithfully: the source's data quality, not a migration defect,
    so it is reported as one INFO finding per column with the count and example keys. Any other
    unreadable value is an error at its key: it was compared as NULL, so the check cannot vouch
    for it (a target that lost it to NULL would otherwise pass). At most ``UNREADABLE_SAMPLE`` are
    listed per column and side; one more error finding counts the rest. The raw text goes through
    the redactor like any value."""
    copied, alone = _split_copied(plan, unreadable)
    findings: list[Finding] = []
    for column in sorted({cell.column for cell, _ in unreadable}):
        same = _by_key([item for item in copied if item[0].column == column])
        if same:
            findings.append(_copied_finding(plan, same, redactor))
        for side in ("source", "target"):
            cells = _by_key([i for i in alone if i[0].column == column and i[0].side == side])
            findings += [_cell_finding(plan, cell, key) for cell, key in cells[:UNREADABLE_SAMPLE]]
            if len(cells) > UNREADABLE_SAMPLE:
                findings.append(_rest_finding(plan, cells, redactor))
    return [f if redactor is None else redactor.redact(f) for f in findings]


def _by_key(items: list[Unreadable]) -> list[Unreadable]:
    try:
        return sorted(items, key=lambda item: item[1])
    except TypeError:  # keys of mixed or unordered types (a NULL in a keyless row)
        return sorted(items, key=lambda item: repr(item[1]))


def _split_copied(
    plan: TablePlan, unreadable: Sequence[Unreadable]
) -> tuple[list[Unreadable], list[Unreadable]]:
    """(the source's cells whose raw text the target holds at the same key, every other cell)."""
    target: dict[tuple[str, str, str], int] = Counter(
        (cell.column, repr(key), cell.raw) for cell, key in unreadable if cell.side == "target"
    )
    copied, alone = [], []
    matched: Counter[tuple[str, str, str]] = Counter()
    for item in unreadable:
        cell, key = item
        if cell.side != "source":
            continue
        slot = (cell.column, repr(key), cell.raw)
        if matched[slot] < target.get(slot, 0):
            matched[slot] += 1
            copied.append(item)
        else:
            alone.append(item)
    for item in unreadable:
        cell, key = item
        slot = (cell.column, repr(key), cell.raw)
        if cell.side == "target" and matched[slot] > 0:
            matched[slot] -= 1
        elif cell.side == "target":
            alone.append(item)
    return copied, alone


def _key(plan: TablePlan, key: tuple[object, ...]) -> dict[str, JsonValue] | None:
    return None if plan.keyless else {p.name: json_value(v) for p, v in zip(plan.keys, key, strict=True)}


def _cell_finding(plan: TablePlan, cell: UnreadableCell, key: tuple[object, ...]) -> Finding:
    return Finding(
        table=plan.table,
        category=Category.UNREADABLE_VALUE,
        severity=Severity.ERROR,
        column=cell.column,
        key=_key(plan, key),
        source_value=cell.raw if cell.side == "source" else None,
        target_value=cell.raw if cell.side == "target" else None,
        rule="unreadable",
        message=(
            f"{cell.side} value {cell.raw!r} of column {cell.column} ({cell.data_type}) cannot be read "
            f"as {cell.family}: it was compared as NULL"
        ),
    )


def _examples(plan: TablePlan, items: Sequence[Unreadable], redactor: Redactor | None) -> str:
    """A few keys, unless a key column is hidden from the reader (a message is not masked part by part)."""
    if plan.keyless or (
        redactor is not None
        and any(redactor.is_hidden(redactor.classification_of(plan.table, k.name)) for k in plan.keys)
    ):
        return ""
    keys = [
        ", ".join(f"{p.name}={json_value(v)}" for p, v in zip(plan.keys, key, strict=True))
        for _, key in items[:EXAMPLE_KEYS]
    ]
    more = ", ..." if len(items) > EXAMPLE_KEYS else ""
    return f" (keys {'; '.join(keys)}{more})"


def _copied_finding(plan: TablePlan, items: Sequence[Unreadable], redactor: Redactor | None) -> Finding:
    cell, key = items[0]
    return Finding(
        table=plan.table,
        category=Category.UNREADABLE_VALUE,
        severity=Severity.INFO,
        column=cell.column,
        key=_key(plan, key),
        source_value=cell.raw,
        target_value=cell.raw,
        rule="unreadable_copied",
        message=(
            f"{len(items):,} value(s) of column {cell.column} ({cell.data_type}) cannot be read as "
            f"{cell.family} on either side and were copied unchanged, such as {cell.raw!r}"
            f"{_examples(plan, items, redactor)}: the source's data, not a migration defect"
        ),
    )


def _rest_finding(plan: TablePlan, items: Sequence[Unreadable], redactor: Redactor | None) -> Finding:
    cell, _ = items[UNREADABLE_SAMPLE]
    rest = items[UNREADABLE_SAMPLE:]
    return Finding(
        table=plan.table,
        category=Category.UNREADABLE_VALUE,
        severity=Severity.ERROR,
        column=cell.column,
        rule="unreadable",
        message=(
            f"{len(items):,} {cell.side} value(s) of column {cell.column} ({cell.data_type}) cannot be "
            f"read as {cell.family} and were compared as NULL: {len(rest):,} more beyond the "
            f"{UNREADABLE_SAMPLE} listed{_examples(plan, rest, redactor)}"
        ),
    )


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
