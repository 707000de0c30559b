"""The expectations pm-pipeline generates, evaluated as our own pushdown SQL (for DuckDB targets,
where Great Expectations' SQL path fails every expectation). Same meaning as GX's: NULLs are
ignored by every check but not-null; a count of unexpected values, then a bounded sample."""

from __future__ import annotations

from typing import Any

from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import Category, Finding, Severity, json_value
from pm_pipeline.core.integrity.suite import ExpectationCall

CHECK = "integrity"
_LENGTH = {"postgresql": "char_length", "mysql": "CHAR_LENGTH"}


def _condition(target: Connector, table: str, call: ExpectationCall) -> tuple[str, list[Any]]:
    """A WHERE clause selecting the unexpected rows, and its parameters."""
    column = call.column
    if column is None:
        raise BadInputError(f"expectation {call.type} without a column cannot run as SQL")
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
    if call.type in ("expect_column_values_to_be_between", "expect_column_value_lengths_to_be_between"):
        expr = (
            q
            if call.type == "expect_column_values_to_be_between"
            else f"{_LENGTH.get(target.engine, 'length')}({q})"
        )
        parts, params = [], []
        if args.get("min_value") is not None:
            parts.append(f"{expr} < {p}")
            params.append(args["min_value"])
        if args.get("max_value") is not None:
            parts.append(f"{expr} > {p}")
            params.append(args["max_value"])
        return f"{q} IS NOT NULL AND ({' OR '.join(parts) or '1 = 0'})", params
    if call.type == "expect_column_values_to_be_unique":
        dupes = f"SELECT {q} FROM {target.qualified(table)} WHERE {q} IS NOT NULL GROUP BY {q} HAVING COUNT(*) > 1"
        return f"{q} IN ({dupes})", []
    raise BadInputError(
        f"expectation {call.type} is not supported by the SQL runner (DuckDB targets); supported: "
        "not_be_null, be_unique, be_in_set, be_between, value_lengths_to_be_between"
    )


def evaluate(target: Connector, *, table: str, call: ExpectationCall, sample_limit: int) -> Finding | None:
    """None when the expectation holds, else one finding with the unexpected count and a sample."""
    condition, params = _condition(target, table, call)
    body = f"FROM {target.qualified(table)} WHERE {condition}"
    unexpected = int(target.execute(f"SELECT COUNT(*) {body}", params)[0][0])
    if unexpected == 0:
        return None
    q = target.quote(call.column or "")
    samples = [row[0] for row in target.execute(f"SELECT {q} {body} LIMIT {int(sample_limit)}", params)]
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
