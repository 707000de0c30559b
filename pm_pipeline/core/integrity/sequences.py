"""Sequences and identity counters: the next value must clear max(key) and keep up with the source's."""

from __future__ import annotations

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.core.names import column_map
from pm_pipeline.core.schema.pushdown import key_max

CHECK = "integrity"


def sequence_findings(
    target: Connector, *, mapping: TableMapping, source_schema: TableSchema, target_schema: TableSchema
) -> tuple[int, list[Finding]]:
    """(sequences checked, findings). A counter at or below max(column) makes the next insert collide."""
    table = mapping.target_name
    # Paired as reconciliation pairs columns (renames, case, normalised names put into renames).
    paired = column_map(mapping, source_schema, target_schema)
    renamed = {paired[s.column].lower(): s for s in source_schema.sequences if s.column in paired}
    checked = 0
    findings: list[Finding] = []
    for sequence in target_schema.sequences:
        if sequence.column is None or sequence.next_value is None:
            continue
        checked += 1
        highest = key_max(target, table, sequence.column)
        if highest is not None and sequence.next_value <= highest:
            findings.append(
                Finding(
                    table=table,
                    category=Category.SEQUENCE_BEHIND,
                    severity=Severity.ERROR,
                    column=sequence.column,
                    target_value=sequence.next_value,
                    rule=f"next value > max({sequence.column})",
                    message=(
                        f"sequence {sequence.name} would hand out {sequence.next_value} but "
                        f"max({sequence.column}) is {highest}: the next insert collides"
                    ),
                    check=CHECK,
                )
            )
            continue
        source_sequence = renamed.get(sequence.column.lower())
        source_next = None if source_sequence is None else source_sequence.next_value
        if source_next is not None and sequence.next_value < source_next:
            findings.append(
                Finding(
                    table=table,
                    category=Category.SEQUENCE_BEHIND,
                    severity=Severity.WARNING,
                    column=sequence.column,
                    source_value=source_next,
                    target_value=sequence.next_value,
                    rule="next value >= source's next value",
                    message=(
                        f"sequence {sequence.name} would hand out {sequence.next_value}, below the "
                        f"source's next value {source_next}: keys the source already "
                        "used (or deleted) would be reused"
                    ),
                    check=CHECK,
                )
            )
    return checked, findings
