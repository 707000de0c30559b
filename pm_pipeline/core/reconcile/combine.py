"""Combine the reconciliations of a table's key-hash buckets into the table's reconciliation.

Every key (every row, for a keyless table) hashes into exactly one bucket on both sides, so the
counts of the slices add up to the table's: missing, extra, duplicate and changed rows, and the
per-column tallies. What depends on the table's totals is decided here, not in the slices: a
slice is reconciled with :func:`slice_thresholds` (every count limit at zero, so each finding
whose severity depends on a count is an ERROR in its slice) and :func:`combine_partitions`
downgrades those findings to WARNING where the table's total stays within the spec's limit,
exactly as a whole-table run would have.

A bucket's result is only worth combining with the others while the settings it was reconciled
with are the spec's: :func:`settings_digest` names them, and the bucket asset stores it with
every result.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence

from pm_pipeline.core.canonical.values import Side
from pm_pipeline.core.config.spec import MigrationSpec, TableMapping, Thresholds
from pm_pipeline.core.findings import Category, ColumnStats, Finding, Severity, TableReconciliation
from pm_pipeline.core.reconcile.engine import ReconcileOptions, keyless_message
from pm_pipeline.core.security.masking import mask_url

_COUNT_LIMITS = {
    Category.MISSING_ROW: "max_missing_rows",
    Category.EXTRA_ROW: "max_extra_rows",
    Category.DUPLICATE_KEY: "max_duplicate_keys",
    Category.VALUE_MISMATCH: "max_changed_rows",
}
# Findings come out in the order a whole-table run lists them.
_ORDER = (Category.DUPLICATE_KEY, Category.MISSING_ROW, Category.EXTRA_ROW, Category.VALUE_MISMATCH)
# What a stored bucket's findings hold for combining to read; raised when that changes, so that
# results stored in an older form are reconciled again instead of misread.
# 2: duplicate-key and keyless findings carry their side and count.
RESULT_FORM = 2


def slice_thresholds(thresholds: Thresholds) -> Thresholds:
    """The thresholds a bucket is reconciled with before :func:`combine_partitions` applies ``thresholds``."""
    return thresholds.model_copy(update=dict.fromkeys(_COUNT_LIMITS.values(), 0))


def settings_digest(spec: MigrationSpec, mapping: TableMapping) -> str:
    """A digest of every setting that decides what a bucket of ``mapping`` finds: the mapping (key,
    renames, ignored columns, column rules, strategy, ...), the thresholds a bucket is reconciled
    with (:func:`slice_thresholds`: the tolerated categories), both endpoints (URL without its
    password, time zone, schema), the clearance its diff files are masked for, and the form of
    the result (``RESULT_FORM``).

    Left out, because they do not change a bucket's result: the number of buckets (checked on its
    own), the drift sensor's ``updated_at`` column, the count limits and the minimum match score
    (applied to the combined table)."""
    endpoints = {
        side: {**endpoint.model_dump(mode="json"), "url": mask_url(endpoint.url)}
        for side, endpoint in (("source", spec.source), ("target", spec.target))
    }
    settings = {
        "mapping": mapping.model_dump(mode="json", exclude={"partitions", "updated_at"}),
        "thresholds": spec.thresholds.model_dump(
            mode="json", exclude={"min_match_score", *_COUNT_LIMITS.values()}
        ),
        "endpoints": endpoints,
        "clearance": str(spec.reports.clearance),
        "result": RESULT_FORM,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def combine_partitions(
    parts: Sequence[TableReconciliation], *, thresholds: Thresholds, findings_limit: int | None = None
) -> TableReconciliation:
    """The reconciliation of a whole table from the reconciliations of all its buckets.

    ``parts`` must have been reconciled with :func:`slice_thresholds`. At most ``findings_limit``
    findings are kept per category (by default the limit of a whole-table run,
    ``ReconcileOptions().findings_limit``); ``findings_truncated`` says
    when some were left out, and the diff files of every slice hold all of them. ``seconds`` is the
    sum over the slices: the work done, whether the slices ran one after the other or in parallel.
    ``diff_path`` is the folder holding every slice's diff files.
    """
    if not parts:
        raise ValueError("no partitions to combine")
    first = parts[0]
    for part in parts[1:]:
        if (part.table, part.target_table, part.key_columns) != (
            first.table,
            first.target_table,
            first.key_columns,
        ):
            raise ValueError(
                f"cannot combine partitions of different tables: {first.table} -> {first.target_table} "
                f"and {part.table} -> {part.target_table}"
            )
    combined = TableReconciliation(
        table=first.table,
        target_table=first.target_table,
        key_columns=first.key_columns,
        keyless=first.keyless,
        source_rows=sum(p.source_rows for p in parts),
        target_rows=sum(p.target_rows for p in parts),
        matched_rows=sum(p.matched_rows for p in parts),
        missing_rows=sum(p.missing_rows for p in parts),
        extra_rows=sum(p.extra_rows for p in parts),
        duplicate_keys_source=sum(p.duplicate_keys_source for p in parts),
        duplicate_keys_target=sum(p.duplicate_keys_target for p in parts),
        changed_rows=sum(p.changed_rows for p in parts),
        rows_equal_under_rule=sum(p.rows_equal_under_rule for p in parts),
        compared_columns=first.compared_columns,
        columns=_merge_columns(parts),
        findings=(),
        strategy="+".join(sorted({p.strategy for p in parts})),
        strategy_note="; ".join(dict.fromkeys(p.strategy_note for p in parts if p.strategy_note)),
        seconds=round(sum(p.seconds for p in parts), 3),
        # The span of the buckets' own runs (they may have run at different times).
        started_at=min((p.started_at for p in parts if p.started_at is not None), default=None),
        finished_at=max((p.finished_at for p in parts if p.finished_at is not None), default=None),
        diff_path=_common_folder(p.diff_path for p in parts),
    )
    findings = [f for p in parts for f in p.findings]
    if first.keyless:
        findings = _keyless_findings(findings, combined)
    limit = ReconcileOptions().findings_limit if findings_limit is None else findings_limit
    kept, truncated = _limit(findings, limit)
    return TableReconciliation(
        **{
            **combined.__dict__,
            "findings": tuple(_with_table_severity(f, combined, thresholds) for f in kept),
            "findings_truncated": truncated or any(p.findings_truncated for p in parts),
        }
    )


def _merge_columns(parts: Sequence[TableReconciliation]) -> tuple[ColumnStats, ...]:
    merged: dict[str, ColumnStats] = {}
    for part in parts:
        for stats in part.columns:
            seen = merged.get(stats.column)
            merged[stats.column] = stats if seen is None else _add_stats(seen, stats)
    return tuple(merged.values())


def _add_stats(a: ColumnStats, b: ColumnStats) -> ColumnStats:
    return ColumnStats(
        column=a.column,
        target_column=a.target_column,
        compared=a.compared + b.compared,
        exact=a.exact + b.exact,
        equal_under_rule=dict(Counter(a.equal_under_rule) + Counter(b.equal_under_rule)),
        mismatched=a.mismatched + b.mismatched,
        null_source_only=a.null_source_only + b.null_source_only,
        null_target_only=a.null_target_only + b.null_target_only,
        max_abs_diff=_max(a.max_abs_diff, b.max_abs_diff),
        max_rel_diff=_max(a.max_rel_diff, b.max_rel_diff),
        rule=a.rule or b.rule,
    )


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _common_folder(paths: Iterable[str | None]) -> str | None:
    given = [p for p in paths if p]
    return os.path.commonpath(given) if given else None


def _keyless_findings(findings: list[Finding], combined: TableReconciliation) -> list[Finding]:
    """A keyless table has one counted finding per direction: the slices' counts are summed into it."""
    totals: dict[Category, tuple[Side, int]] = {
        Category.MISSING_ROW: ("source", combined.missing_rows),
        Category.EXTRA_ROW: ("target", combined.extra_rows),
    }
    merged: dict[Category, Finding] = {}
    for finding in findings:
        if finding.category in totals and finding.category not in merged:
            side, count = totals[finding.category]
            merged[finding.category] = Finding(
                **{**finding.__dict__, "message": keyless_message(side, count), "count": count}
            )
    return [merged[c] for c in (Category.MISSING_ROW, Category.EXTRA_ROW) if c in merged]


def _limit(findings: list[Finding], limit: int) -> tuple[list[Finding], bool]:
    rank = {category: index for index, category in enumerate(_ORDER)}
    ordered = sorted(findings, key=lambda f: rank.get(f.category, len(_ORDER)))
    kept: list[Finding] = []
    per_category: Counter[tuple[Category, Side | None]] = Counter()
    for finding in ordered:
        # Duplicate keys are limited per side, as a whole-table run lists them.
        group = (finding.category, finding.side if finding.category is Category.DUPLICATE_KEY else None)
        per_category[group] += 1
        if per_category[group] <= limit:
            kept.append(finding)
    return kept, len(kept) < len(findings)


def _with_table_severity(finding: Finding, table: TableReconciliation, thresholds: Thresholds) -> Finding:
    if finding.severity is not Severity.ERROR or finding.category not in _COUNT_LIMITS:
        return finding
    if finding.category is Category.DUPLICATE_KEY:
        count = table.duplicate_keys_target if finding.side == "target" else table.duplicate_keys_source
    else:
        count = {
            Category.MISSING_ROW: table.missing_rows,
            Category.EXTRA_ROW: table.extra_rows,
            Category.VALUE_MISMATCH: table.changed_rows,
        }[finding.category]
    limit: int = getattr(thresholds, _COUNT_LIMITS[finding.category])
    if count <= limit:
        return Finding(**{**finding.__dict__, "severity": Severity.WARNING})
    return finding
