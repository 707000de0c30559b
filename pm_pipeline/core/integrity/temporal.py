"""Temporal rules: order of created/updated, nothing in the future, ranges and shifts against the source.

A systematic shift (a time-zone conversion applied twice, a naive column read in the wrong zone)
moves many rows by the same whole number of hours. Reconciliation shows each changed row; this
check names the cause: it compares a keyed sample of the column on both sides and reports the
common offset.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Sequence

import pyarrow as pa

from pm_pipeline.core.canonical import ColumnPlan, canonicalize
from pm_pipeline.core.canonical.unreadable import readable_canonical
from pm_pipeline.core.canonical.values import INFINITE_INSTANT, ZERO_INSTANT, Side
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import Column, TableSchema, TypeFamily
from pm_pipeline.core.findings import Category, Finding, JsonValue, Severity, json_value
from pm_pipeline.core.reconcile.detail import canonical_display
from pm_pipeline.core.reconcile.planning import TablePlan

CHECK = "integrity"
HOUR_US = 3_600_000_000
# At least this share of the compared rows must move by the same whole hours to call it systematic.
SHIFT_SHARE = 0.5
_INFINITE_FAMILIES = (TypeFamily.DATE, TypeFamily.TIMESTAMP, TypeFamily.TIMESTAMPTZ)
_SENTINELS = (ZERO_INSTANT, INFINITE_INSTANT, -INFINITE_INSTANT)  # no instants to shift


def _keys(names: Sequence[str], row: Sequence[object]) -> dict[str, JsonValue]:
    return {name: json_value(value) for name, value in zip(names, row, strict=False)}


def _ordered(count: int) -> str:
    # Samples are the first rows by every shown column: the same rows on every run.
    return "ORDER BY " + ", ".join(str(position) for position in range(1, count + 1))


def order_violations(
    target: Connector,
    *,
    table: str,
    created: str,
    updated: str,
    key_columns: Sequence[str],
    sample_limit: int,
) -> tuple[int, list[Finding]]:
    """Rows whose ``updated`` is before their ``created``."""
    q = target.quote
    body = f"FROM {target.qualified(table)} WHERE {q(updated)} < {q(created)}"
    count = int(target.execute(f"SELECT COUNT(*) {body}")[0][0])
    if count == 0:
        return 0, []
    shown = [*key_columns, created, updated]
    rows = target.execute(
        f"SELECT {', '.join(q(c) for c in shown)} {body} {_ordered(len(shown))} LIMIT {int(sample_limit)}"
    )
    width = len(key_columns)
    return count, [
        Finding(
            table=table,
            category=Category.TEMPORAL_VIOLATION,
            severity=Severity.ERROR,
            column=updated,
            key=_keys(key_columns, row),
            target_value=json_value(row[width + 1]),
            rule=f"{updated} >= {created}",
            message=f"{updated} {row[width + 1]} is before {created} {row[width]} ({count} row(s) in all)",
            check=CHECK,
        )
        for row in rows
    ]


def _bound_param(target: Connector, column: Column, latest: dt.datetime) -> object:
    if column.family is TypeFamily.DATE:
        return latest.date()
    if target.dialect.binds_aware_timestamps and column.family is TypeFamily.TIMESTAMPTZ:
        return latest
    # naive columns hold UTC wall time here (connectors run their sessions in UTC)
    return latest.astimezone(dt.UTC).replace(tzinfo=None)


def future_values(
    target: Connector,
    *,
    table: str,
    column: Column,
    latest: dt.datetime,
    key_columns: Sequence[str],
    sample_limit: int,
) -> tuple[int, list[Finding]]:
    """Rows whose ``column`` is later than ``latest`` (the cut-over instant, or now plus the skew)."""
    q = target.quote
    body = f"FROM {target.qualified(table)} WHERE {q(column.name)} > {target.placeholder}"
    if target.dialect.supports_infinite_timestamps and column.family in _INFINITE_FAMILIES:
        # 'infinity' ("valid forever") is no instant of the future; the range check compares it with the source.
        body += f" AND isfinite({q(column.name)})"
    params = (_bound_param(target, column, latest),)
    count = int(target.execute(f"SELECT COUNT(*) {body}", params)[0][0])
    if count == 0:
        return 0, []
    shown = [*key_columns, column.name]
    rows = target.execute(
        f"SELECT {', '.join(q(c) for c in shown)} {body} {_ordered(len(shown))} LIMIT {int(sample_limit)}",
        params,
    )
    return count, [
        Finding(
            table=table,
            category=Category.TEMPORAL_VIOLATION,
            severity=Severity.ERROR,
            column=column.name,
            key=_keys(key_columns, row),
            target_value=json_value(row[-1]),
            rule=f"{column.name} <= {latest.isoformat()}",
            message=f"{column.name} {row[-1]} is after {latest.isoformat()} ({count} row(s) in all)",
            check=CHECK,
        )
        for row in rows
    ]


def _extremes(connector: Connector, table: str, column: Column, *, skip_zero_dates: bool) -> pa.Array:
    """[MIN, MAX] of ``column``, read as one row: the rows of a UNION come in no promised order.

    ``skip_zero_dates``: zero dates ('0000-00-00', read as NULL under the zero_date rule) bound
    nothing, they are left out.
    """
    q = connector.quote(column.name)
    value = f"CASE WHEN {q} LIKE '0000-00-00%' THEN NULL ELSE {q} END" if skip_zero_dates else q
    low, high = (dataclasses.replace(column, name=name) for name in ("pm_low", "pm_high"))
    inner = (
        f"SELECT MIN({value}) AS {connector.quote(low.name)}, MAX({value}) AS {connector.quote(high.name)} "
        f"FROM {connector.qualified(table)}"
    )
    selects = ", ".join(f"{connector.select_expression(c)} AS {connector.quote(c.name)}" for c in (low, high))
    result = connector.query_arrow(f"SELECT {selects} FROM ({inner}) pm_range")
    return pa.concat_arrays([result.column(c.name).combine_chunks() for c in (low, high)])


def _holds_zero_dates(plan: ColumnPlan, column: Column) -> bool:
    return plan.maps_zero_dates and (column.zero_dates or column.family is TypeFamily.TEXT)


def _sample(
    target: Connector, source: Connector, *, plan: TablePlan, column: ColumnPlan, limit: int
) -> tuple[pa.Array, pa.Array]:
    """Canonical (source, target) values of ``column`` for up to ``limit`` keys present on both sides."""
    tq = target.quote
    select = ", ".join(
        f"{target.select_expression(p.target)} AS {tq(p.target.name)}" for p in (*plan.keys, column)
    )
    where = f"{tq(column.target.name)} IS NOT NULL"
    order = ", ".join(tq(p.target.name) for p in plan.keys)
    batch = target.query_arrow(
        f"SELECT {select} FROM {target.qualified(plan.target_table)} WHERE {where} ORDER BY {order} "
        f"LIMIT {int(limit)}"
    )
    if batch.num_rows == 0:
        return pa.array([], pa.int64()), pa.array([], pa.int64())
    raw_keys = list(zip(*(batch.column(p.target.name).to_pylist() for p in plan.keys), strict=True))
    source_schema_columns = [p.source for p in (*plan.keys, column)]
    found = pa.Table.from_batches(
        list(
            source.fetch_by_keys(
                plan.table,
                schema=TableSchema(name=plan.table, columns=tuple(source_schema_columns)),
                key_columns=[p.name for p in plan.keys],
                keys=raw_keys,
                columns=[c.name for c in source_schema_columns],
            )
        )
    )
    if found.num_rows == 0:
        return pa.array([], pa.int64()), pa.array([], pa.int64())

    def keyed(table: pa.Table, side: Side) -> dict[tuple[object, ...], object]:
        names = [p.name if side == "source" else p.target.name for p in plan.keys]
        keys = [
            canonicalize(table.column(n), plan=p, side=side, strict=True).to_pylist()
            for n, p in zip(names, plan.keys, strict=True)
        ]
        name = column.name if side == "source" else column.target.name
        values = readable_canonical(table.column(name), plan=column, side=side, found=None, strict=True)[0]
        values = values.to_pylist()
        return dict(zip(zip(*keys, strict=True), values, strict=True))

    source_values = keyed(found, "source")
    target_values = keyed(batch, "target")
    common = [key for key in target_values if key in source_values]
    return (
        pa.array([source_values[k] for k in common], pa.int64()),
        pa.array([target_values[k] for k in common], pa.int64()),
    )


def range_and_shift(
    source: Connector, target: Connector, *, plan: TablePlan, column: ColumnPlan, sample_rows: int
) -> list[Finding]:
    """A systematic shift found in a keyed sample, else a range (min/max) that differs from the source's."""
    table = plan.target_table
    if column.family not in (TypeFamily.TIMESTAMP, TypeFamily.TIMESTAMPTZ):
        return []
    if plan.keys:
        source_values, target_values = _sample(target, source, plan=plan, column=column, limit=sample_rows)
        diffs = [
            t - s
            for s, t in zip(source_values.to_pylist(), target_values.to_pylist(), strict=True)
            if s is not None and t is not None and s not in _SENTINELS and t not in _SENTINELS
        ]
        whole = Counter(d // HOUR_US for d in diffs if d != 0 and d % HOUR_US == 0)
        if whole:
            hours, moved = whole.most_common(1)[0]
            if moved >= SHIFT_SHARE * len(diffs):
                return [
                    Finding(
                        table=table,
                        category=Category.SYSTEMATIC_SHIFT,
                        severity=Severity.ERROR,
                        column=column.target_name,
                        target_value=hours,
                        rule=f"shift {hours:+d}h",
                        message=(
                            f"{moved} of {len(diffs)} sampled rows hold {column.target_name} moved by "
                            f"{hours:+d} hour(s) against the source: a time-zone conversion was probably "
                            "applied twice or to the wrong zone"
                        ),
                        check=CHECK,
                    )
                ]
    source_raw = _extremes(
        source, plan.table, column.source, skip_zero_dates=_holds_zero_dates(column, column.source)
    )
    target_raw = _extremes(
        target, table, column.target, skip_zero_dates=_holds_zero_dates(column, column.target)
    )
    source_ext, _ = readable_canonical(source_raw, plan=column, side="source", found=None, strict=True)
    target_ext, _ = readable_canonical(target_raw, plan=column, side="target", found=None, strict=True)
    if source_ext.to_pylist() == target_ext.to_pylist():
        return []
    raw_source, raw_target = _shown(column, source_raw, source_ext), _shown(column, target_raw, target_ext)
    return [
        Finding(
            table=table,
            category=Category.TEMPORAL_VIOLATION,
            severity=Severity.ERROR,
            column=column.target_name,
            source_value=json_value(raw_source),
            target_value=json_value(raw_target),
            rule="range equals source",
            message=(
                f"{column.target_name} spans {raw_target[0]} .. {raw_target[1]} in the target but "
                f"{raw_source[0]} .. {raw_source[1]} in the source"
            ),
            check=CHECK,
        )
    ]


def _shown(column: ColumnPlan, raw: pa.Array, canonical: pa.Array) -> list[object]:
    """Raw extremes as Python values; ones Python cannot hold (±infinity) by their canonical text."""
    try:
        return list(raw.to_pylist())
    except (OverflowError, ValueError):
        return [canonical_display(column, value) for value in canonical.to_pylist()]
