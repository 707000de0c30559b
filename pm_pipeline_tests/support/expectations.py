"""One table's expectations run between two databases, as the integrity check runs them."""

from __future__ import annotations

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.integrity import parse_integrity
from pm_pipeline.core.integrity.expectations import ExpectationRun, run_expectations


def run_table_expectations(
    source_url: str, target_url: str, *, table: str = "items", mapping: TableMapping | None = None
) -> ExpectationRun:
    """The generated expectations of ``table`` (or ``mapping``'s table), no declared suite."""
    mapping = mapping or TableMapping(source=table)
    with connect(source_url) as source, connect(target_url) as target:
        return run_expectations(
            source=source,
            target=target,
            mapping=mapping,
            settings=parse_integrity({}),
            source_schema=source.introspect(mapping.source),
            target_schema=target.introspect(mapping.target_name),
        )
