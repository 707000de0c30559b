"""Business rules from the spec, evaluated inside the target: a count, then a sample of violating keys."""

from __future__ import annotations

from collections.abc import Sequence

from pm_pipeline.core.config.integrity import AggregateRule, RowRule
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.findings import Category, Finding, Severity, json_value

CHECK = "integrity"


def _count_and_sample(
    target: Connector, *, body: str, shown: Sequence[str], sample_limit: int
) -> tuple[int, list[tuple[object, ...]]]:
    count = int(target.execute(f"SELECT COUNT(*) {body}")[0][0])
    if count == 0:
        return 0, []
    columns = ", ".join(target.quote(name) for name in shown)
    order = ", ".join(str(n) for n in range(1, len(shown) + 1))
    return count, target.execute(f"SELECT {columns} {body} ORDER BY {order} LIMIT {int(sample_limit)}")


def row_rule(
    target: Connector, *, rule: RowRule, key_columns: Sequence[str], sample_limit: int
) -> tuple[int, list[Finding]]:
    """Rows where ``rule.check`` is false or NULL (an unknown answer does not prove the rule)."""
    # The predicate is wrapped in a CASE so NULL and false both count, on every engine.
    body = (
        f"FROM {target.qualified(rule.table)} pm_rows WHERE (CASE WHEN ({rule.check}) THEN 1 ELSE 0 END) = 0"
    )
    count, rows = _count_and_sample(target, body=body, shown=key_columns, sample_limit=sample_limit)
    findings = [
        Finding(
            table=rule.table,
            category=Category.RULE_VIOLATION,
            severity=Severity.ERROR,
            key={name: json_value(value) for name, value in zip(key_columns, row, strict=True)},
            rule=rule.name,
            message=f"rule {rule.name!r} ({rule.check}) is false or NULL for this row ({count} row(s) in all)",
            check=CHECK,
        )
        for row in rows
    ]
    return count, findings


def aggregate_rule(target: Connector, *, rule: AggregateRule, sample_limit: int) -> tuple[int, list[Finding]]:
    """Parents whose ``value`` differs from the sum of ``child_value`` over their children by more
    than the tolerance; a parent without children sums to 0."""
    q = target.quote
    parent_keys = [f"pm_k{i}" for i in range(len(rule.key))]
    parent = (
        f"SELECT {', '.join(f'{q(col)} AS {name}' for col, name in zip(rule.key, parent_keys, strict=True))}, "
        f"({rule.value}) AS pm_value FROM {target.qualified(rule.table)}"
    )
    child = (
        f"SELECT {', '.join(f'{q(col)} AS {name}' for col, name in zip(rule.child_key, parent_keys, strict=True))}, "
        f"SUM({rule.child_value}) AS pm_sum FROM {target.qualified(rule.child_table)} "
        f"GROUP BY {', '.join(q(col) for col in rule.child_key)}"
    )
    join = " AND ".join(f"c.{name} = p.{name}" for name in parent_keys)
    compared = (
        f"SELECT {', '.join(f'p.{name}' for name in parent_keys)}, p.pm_value, COALESCE(c.pm_sum, 0) AS pm_sum "
        f"FROM ({parent}) p LEFT JOIN ({child}) c ON {join}"
    )
    body = f"FROM ({compared}) pm_cmp WHERE pm_value IS NULL OR ABS(pm_value - pm_sum) > {target.placeholder}"
    params = (rule.tolerance,)
    count = int(target.execute(f"SELECT COUNT(*) {body}", params)[0][0])
    if count == 0:
        return 0, []
    rows = target.execute(
        f"SELECT {', '.join(parent_keys)}, pm_value, pm_sum {body} ORDER BY {', '.join(parent_keys)} "
        f"LIMIT {int(sample_limit)}",
        params,
    )
    width = len(parent_keys)
    findings = [
        Finding(
            table=rule.table,
            category=Category.RULE_VIOLATION,
            severity=Severity.ERROR,
            key={name: json_value(value) for name, value in zip(rule.key, row[:width], strict=True)},
            target_value=json_value(row[width]),
            target_canonical=json_value(row[width + 1]),
            rule=rule.name,
            message=(
                f"rule {rule.name!r}: {rule.value} = {row[width]} but SUM({rule.child_value}) over "
                f"{rule.child_table} = {row[width + 1]} ({count} row(s) in all)"
            ),
            check=CHECK,
        )
        for row in rows
    ]
    return count, findings
