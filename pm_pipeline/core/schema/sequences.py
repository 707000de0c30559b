"""Identity columns, serials and auto-increment counters: the target's next value must be above its keys.

A migration that copies rows with explicit ids and never advances the counter (no setval) leaves
a target whose next insert collides with an existing key: the classic post-cutover outage.
"""

from __future__ import annotations

from collections.abc import Mapping

from pm_pipeline.core.connectors.schema import Sequence, TableSchema
from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.core.schema.constraints import Context


def _by_column(schema: TableSchema) -> dict[str, Sequence]:
    return {seq.column: seq for seq in schema.sequences if seq.column is not None}


def _counted_columns(schema: TableSchema) -> set[str]:
    return {col.name for col in schema.columns if col.identity} | set(_by_column(schema))


def sequences(ctx: Context, *, target_key_max: Mapping[str, int] | None) -> list[Finding]:
    """``target_key_max`` maps target column -> max(column) in the target (see pushdown.key_max)."""
    findings: list[Finding] = []
    source_seqs, target_seqs = _by_column(ctx.source), _by_column(ctx.target)
    target_counted = _counted_columns(ctx.target)
    reverse = {target: source for source, target in ctx.column_map.items()}

    def behind(column: str, target_col: str, message: str, source_value: str | None, have: str) -> None:
        findings.append(
            ctx.finding(
                Category.SEQUENCE_BEHIND, Severity.ERROR, (column,),
                source_value=source_value, target_value=have, rule="sequence", message=message,
            )
        )  # fmt: skip

    for source_col in sorted(_counted_columns(ctx.source)):
        target_col = ctx.column_map.get(source_col)
        if target_col is None or target_col in target_counted:
            continue
        behind(
            source_col, target_col,
            f"{source_col} is generated in the source but {target_col} has no identity, serial or "
            "auto-increment in the target; inserts that omit it will fail",
            "identity", "none",
        )  # fmt: skip
    for target_col, seq in sorted(target_seqs.items()):
        if seq.next_value is None:
            continue
        source_col = reverse.get(target_col, target_col)
        have = f"next value {seq.next_value}"
        key_max = (target_key_max or {}).get(target_col)
        if key_max is not None and seq.next_value <= key_max:
            behind(
                source_col, target_col,
                f"{seq.name} on {target_col} would hand out {seq.next_value} but the target already holds "
                f"{target_col} = {key_max}; the next insert collides (advance it, e.g. setval)",
                f"max({target_col}) = {key_max}", have,
            )  # fmt: skip
            continue
        source_seq = source_seqs.get(source_col)
        if (
            source_seq is not None
            and source_seq.next_value is not None
            and seq.next_value < source_seq.next_value
        ):
            behind(
                source_col, target_col,
                f"{seq.name} on {target_col} would hand out {seq.next_value}, below the source's next value "
                f"{source_seq.next_value}; ids the source already used (maybe deleted rows) would be reused",
                f"next value {source_seq.next_value}", have,
            )  # fmt: skip
    return findings
