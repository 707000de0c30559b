"""Declared expectations evaluated as our own SQL, where Great Expectations cannot run (DuckDB targets,
whose GX SQL path fails every expectation) or is not wanted (``runner="sql"``). Raw target values,
the meaning GX gives them: NULLs are ignored by every check but not-null."""

from __future__ import annotations

from typing import Any

from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import Category, Finding, Severity, json_value
from pm_pipeline.core.integrity.suite import ExpectationCall

CHECK = "integrity"
SUPPORTED = (
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_unique",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_be_between",
    "expect_column_value_lengths_to_be_between",
)


def _condition(target: Connector, table: str, call: ExpectationCall) -> tuple[str, list[Any]]:
    """A WHERE clause selecting the unexpected rows, and its parameters."""
    column = call.column
    if column is None or call.type not in SUPPORTED:
        raise BadInputError(
            f"integrity.expectations.{table}: {call.type} cannot run as SQL on {target.engine}; "
            f"supported there: {', '.join(SUPPORTED)} (each with a column)"
        )
    q = target.quote(column)
    args = call.kwargs
    p = target.placeholder
    if call.type == "expect_column_values_to_not_be_null":
        return f"{q} IS NULL", []
    if call.type == "expect_column_values_to_be_in_set":
        values = list(args["value_set"])
        if not values:
            return f"{q} IS NOT NULL", []
        return f"{q} IS NOT NULL AND {q} NOT IN ({', '.join([p] * len(values))})", values
    if call.type == "expect_column_values_to_be_unique":
        dupes = f"SELECT {q} FROM {target.qualified(table)} WHERE {q} IS NOT NULL GROUP BY {q} HAVING COUNT(*) > 1"
        return f"{q} IN ({dupes})", []
    expr = q if call.type == "expect_column_values_to_be_between" else target.dialect.char_length(q)
    parts, params = [], []
    if args.get("min_value") is not None:
        parts.append(f"{expr} < {p}")
        params.append(args["min_value"])
    if args.get("max_value") is not None:
        parts.append(f"{expr} > {p}")
        params.append(args["max_value"])
    return f"{q} IS NOT NULL AND ({' OR '.join(parts) or '1 = 0'})", params


def evaluate(target: Connector, *, table: str, call: ExpectationCall, sample_limit: int) -> Finding | None:
    """None when the expectation holds, else one finding with the unexpected count and a sample
    (in the order of the sampled values). A database error propagates to the caller."""
    condition, params = _condition(target, table, call)
    body = f"FROM {target.qualified(table)} WHERE {condition}"
    unexpected = int(target.execute(f"SELECT COUNT(*) {body}", params)[0][0])
    if unexpected == 0:
        return None
    q = target.quote(call.column or "")
    rows = target.execute(f"SELECT {q} {body} ORDER BY {q} LIMIT {int(sample_limit)}", params)
    samples = [row[0] for row in rows]
    return Finding(
        table=table,
        category=Category.EXPECTATION_FAILED,
        severity=Severity.ERROR,
        column=call.column,
        target_value=json_value(samples),
        rule=call.label,
        message=f"{call.label} failed ({call.origin}): {unexpected} unexpected value(s); sample {json_value(samples)}",
        check=CHECK,
    )
