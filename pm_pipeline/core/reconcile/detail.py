# Over 300 lines: fetching suspect rows and diffing them column by column share the canonical plan and the key encoding.
"""Fetch the full rows of suspect keys from both sides and diff them column by column."""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pm_pipeline.core.canonical.arrays import explain_lists
from pm_pipeline.core.canonical.compare import CellResult, compare_cells
from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.canonical.values import PARTLY_ZERO_BASE, ZERO_INSTANT, canonicalize
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import TableSchema, TypeFamily
from pm_pipeline.core.findings import Category, ColumnStats, Finding, JsonValue, Severity, json_value
from pm_pipeline.core.reconcile.join import JoinOutcome
from pm_pipeline.core.reconcile.planning import TablePlan
from pm_pipeline.core.security.redaction import Redactor

F = TypeFamily
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

CELL_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("column", pa.string()),
        ("source_value", pa.string()),
        ("target_value", pa.string()),
        ("source_canonical", pa.string()),
        ("target_canonical", pa.string()),
        ("rule", pa.string()),
    ]
)


def canonical_display(plan: ColumnPlan, value: Any) -> JsonValue:
    """A canonical value as a person reads it (instants as ISO 8601 UTC)."""
    if value is None:
        return None
    if plan.family in (F.TIMESTAMP, F.TIMESTAMPTZ) and isinstance(value, int):
        if value == ZERO_INSTANT:
            return "0000-00-00 00:00:00 (zero date)"
        if 0 <= value - PARTLY_ZERO_BASE < 10**14:
            packed = f"{value - PARTLY_ZERO_BASE:014d}"
            return f"{packed[:4]}-{packed[4:6]}-{packed[6:8]} {packed[8:10]}:{packed[10:12]}:{packed[12:]} (no such date)"
        try:
            return (_EPOCH + dt.timedelta(microseconds=value)).isoformat().replace("+00:00", "Z")
        except OverflowError:  # past year 9999, or PostgreSQL's ±infinity as the reader hands it over
            return _beyond_datetime(value)
    if plan.family is F.TIME and isinstance(value, int):
        return _clock_text(value)
    return json_value(value)


def _clock_text(micros: int) -> str:
    """A time of day as ISO 8601 text; a MySQL TIME may also be negative or past 24 hours."""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    text = f"{'-' if micros < 0 else ''}{hour:02d}:{minute:02d}:{second:02d}"
    return f"{text}.{fraction:06d}" if fraction else text


def _beyond_datetime(value: int) -> str:
    """An instant Python's datetime cannot hold, as ISO 8601 text all the same."""
    if abs(value) == 2**63 - 1:
        return "infinity" if value > 0 else "-infinity"
    return f"{np.datetime64(value, 'us')}Z"


@dataclass
class _ColumnTally:
    under_rule: int = 0
    different: int = 0
    null_source_only: int = 0
    null_target_only: int = 0
    max_abs: float | None = None
    max_rel: float | None = None


@dataclass
class DetailAccumulator:
    plan: TablePlan
    findings_limit: int
    parquet_path: Path | None = None
    changed_rows: int = 0
    rows_under_rule: int = 0  # suspect rows with no difference but at least one cell equal under a rule
    truncated: bool = False
    _findings: list[Finding] = field(default_factory=list)
    _tallies: dict[int, _ColumnTally] = field(default_factory=dict)
    redactor: Redactor | None = None
    _writer: pq.ParquetWriter | None = None
    _closed: bool = False
    _pending: list[Finding] = field(default_factory=list)

    def add_cell(self, column: ColumnPlan, key: dict[str, JsonValue], values: tuple[Any, ...]) -> None:
        """Record one differing cell: kept raw in memory (reports redact), masked in the diff file."""
        source_raw, target_raw, source_canon, target_canon = values
        finding = Finding(
            table=self.plan.table,
            category=Category.VALUE_MISMATCH,
            severity=Severity.WARNING if column.rule.tolerated else Severity.ERROR,
            column=column.name,
            key=key,
            source_value=json_value(source_raw),
            target_value=json_value(target_raw),
            source_canonical=canonical_display(column, source_canon),
            target_canonical=canonical_display(column, target_canon),
            rule=column.rule_label,
            message=_explain(column, source_canon, target_canon),
            classification=column.classification,
        )
        if len(self._findings) < self.findings_limit:
            self._findings.append(finding)
        else:
            self.truncated = True
        if self.parquet_path is not None:
            self._pending.append(finding if self.redactor is None else self.redactor.redact(finding))

    def flush_cells(self) -> None:
        """Append the cells recorded since the last flush to the diff file."""
        if not self._pending:
            return
        columns = {
            "key": [json.dumps(f.key, ensure_ascii=False) for f in self._pending],
            "column": [f.column for f in self._pending],
            "source_value": [_text(f.source_value) for f in self._pending],
            "target_value": [_text(f.target_value) for f in self._pending],
            "source_canonical": [_text(f.source_canonical) for f in self._pending],
            "target_canonical": [_text(f.target_canonical) for f in self._pending],
            "rule": [f.rule for f in self._pending],
        }
        self._pending = []
        self.write_cells(pa.table(columns, schema=CELL_SCHEMA))

    def tally(self, index: int) -> _ColumnTally:
        return self._tallies.setdefault(index, _ColumnTally())

    def findings(self, changed_severity: Severity) -> list[Finding]:
        # Severity of value findings follows the table's changed-row threshold unless tolerated.
        if changed_severity is Severity.ERROR:
            return self._findings
        return [
            Finding(**{**f.__dict__, "severity": Severity.WARNING}) if f.severity is Severity.ERROR else f
            for f in self._findings
        ]

    def write_cells(self, table: pa.Table) -> None:
        if self.parquet_path is None or table.num_rows == 0:
            return
        if self._writer is None:
            self.parquet_path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(str(self.parquet_path), CELL_SCHEMA)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._writer.close()
        elif self.parquet_path is not None:
            self.parquet_path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(CELL_SCHEMA.empty_table(), str(self.parquet_path))

    def column_stats(self, outcome: JoinOutcome) -> tuple[ColumnStats, ...]:
        stats = []
        for index, column in enumerate(self.plan.values):
            tally = self._tallies.get(index, _ColumnTally())
            screened = outcome.screened_rule_counts.get(index, 0)
            under = screened + tally.under_rule
            abs_candidates = [
                v for v in (outcome.screened_max_abs.get(index), tally.max_abs) if v is not None
            ]
            rel_candidates = [
                v for v in (outcome.screened_max_rel.get(index), tally.max_rel) if v is not None
            ]
            stats.append(
                ColumnStats(
                    column=column.name,
                    target_column=column.target_name,
                    compared=outcome.matched_count,
                    exact=outcome.matched_count - under - tally.different,
                    equal_under_rule={column.rule_label: under} if under else {},
                    mismatched=tally.different,
                    null_source_only=tally.null_source_only,
                    null_target_only=tally.null_target_only,
                    max_abs_diff=max(abs_candidates) if abs_candidates else None,
                    max_rel_diff=max(rel_candidates) if rel_candidates else None,
                    rule=column.rule_label,
                )
            )
        return tuple(stats)


def _explain(column: ColumnPlan, source: Any, target: Any) -> str:
    if source is None:
        return "NULL in the source, a value in the target"
    if target is None:
        return "a value in the source, NULL in the target"
    if column.tolerant:
        return f"differs by more than the tolerance ({column.rule_label})"
    if column.family is F.TEXT and isinstance(source, str) and isinstance(target, str):
        if source.strip() == target.strip():
            return "differs only in leading/trailing white space"
        if source.lower() == target.lower():
            return "differs only in letter case"
        if target and source.startswith(target):
            return f"target text is truncated ({len(target)} of {len(source)} characters)"
        if "?" in target and len(target) <= len(source):
            return "characters replaced by '?' in the target (lost in a narrower character set)"
        if "Ã" in target or "â€" in target:
            return "target looks like UTF-8 read as Latin-1 (mojibake)"
        if unicodedata.normalize("NFC", source) == unicodedata.normalize("NFC", target):
            return "same text in a different Unicode normalisation form (NFC vs NFD)"
    instants = (
        column.family in (F.TIMESTAMP, F.TIMESTAMPTZ) and isinstance(source, int) and isinstance(target, int)
    )
    # zero dates, -infinity and dates with a zero month or day lie below every real instant
    if instants and min(source, target) >= PARTLY_ZERO_BASE + 10**14:
        shift = (target - source) / 3_600_000_000
        if shift and shift == int(shift):
            return f"shifted by {int(shift):+d} h (a time-zone error?)"
    if column.family is F.SET and isinstance(source, str) and isinstance(target, str):
        return explain_lists(source, target, ordered=column.list_ordered) or "values differ"
    if column.family is F.DECIMAL and isinstance(source, str) and isinstance(target, str):
        digits = len(source.partition(".")[2]) - len(target.partition(".")[2])
        if digits > 0:
            return f"target lost {digits} decimal digit(s) of scale"
    return "values differ"


def diff_suspects(
    connection: duckdb.DuckDBPyConnection,
    *,
    plan: TablePlan,
    source: Connector,
    target: Connector,
    source_schema: TableSchema,
    target_schema: TableSchema,
    chunk: int,
    accumulator: DetailAccumulator,
) -> None:
    """Diff every suspect row; findings, tallies and the cell Parquet go to ``accumulator``."""
    nkeys = len(plan.keys)
    columns = ", ".join(
        [
            *(f"k{i}" for i in range(nkeys)),
            *(f"sr{i}" for i in range(nkeys)),
            *(f"tr{i}" for i in range(nkeys)),
        ]
    )
    cursor = connection.cursor()
    # In key order: which cells a findings limit keeps must not depend on the join's row order.
    order = f" ORDER BY {', '.join(f'k{i}' for i in range(nkeys))}" if nkeys else ""
    infinite = _infinite_raw_keys(cursor, nkeys)
    cursor.execute(f"SELECT {', '.join([columns, *infinite.values()])} FROM suspects{order}")
    try:
        while rows := cursor.fetchmany(chunk):
            if infinite:
                rows = [_with_infinite_keys(row, list(infinite), nkeys) for row in rows]
            _diff_chunk(plan, rows, nkeys, source, target, source_schema, target_schema, accumulator)
    finally:
        cursor.close()


def _infinite_raw_keys(cursor: duckdb.DuckDBPyConnection, nkeys: int) -> dict[int, str]:
    """Per raw key column of a date or timestamp type (by position among the raw keys), SQL for
    'infinity' / '-infinity' where it holds one, else NULL. DuckDB hands ±infinity to Python as
    the largest and smallest datetime, and a key of those selects another row or none."""
    raw = [f"{side}{i}" for side in ("sr", "tr") for i in range(nkeys)]
    if not raw:
        return {}
    described = cursor.execute(f"DESCRIBE SELECT {', '.join(raw)} FROM suspects").fetchall()
    return {
        position: f"CASE WHEN isinf(CAST({name} AS TIMESTAMP)) THEN CAST({name} AS VARCHAR) END"
        for position, (name, (_, kind, *_)) in enumerate(zip(raw, described, strict=True))
        if kind == "DATE" or kind.startswith("TIMESTAMP")
    }


def _with_infinite_keys(row: tuple[Any, ...], positions: list[int], nkeys: int) -> tuple[Any, ...]:
    """``row`` (canonical keys, raw keys, then the texts of ``_infinite_raw_keys``) with each
    infinite raw key as its text, which every engine with infinities reads back as the value."""
    values = list(row[: 3 * nkeys])
    for position, text in zip(positions, row[3 * nkeys :], strict=True):
        if text is not None:
            values[nkeys + position] = text
    return tuple(values)


def _fetch_side(
    connector: Connector, plan: TablePlan, schema: TableSchema, side: str, raw_keys: list[tuple[Any, ...]]
) -> tuple[pa.Table, dict[tuple[Any, ...], int]]:
    names = [p.source.name if side == "source" else p.target.name for p in plan.all_plans]
    key_names = [p.source.name if side == "source" else p.target.name for p in plan.keys]
    table_name = plan.table if side == "source" else plan.target_table
    batches = list(
        connector.fetch_by_keys(
            table_name, schema=schema, key_columns=key_names, keys=raw_keys, columns=names
        )
    )
    if not batches:
        return pa.table({name: pa.array([], pa.string()) for name in names}), {}
    table = pa.Table.from_batches(batches)
    canonical_keys = [
        canonicalize(table.column(name), plan=key_plan, side=side, strict=False).to_pylist()  # type: ignore[arg-type]
        for name, key_plan in zip(key_names, plan.keys, strict=True)
    ]
    index = {tuple(values): row for row, values in enumerate(zip(*canonical_keys, strict=True))}
    return table, index


def _diff_chunk(
    plan: TablePlan,
    rows: list[tuple[Any, ...]],
    nkeys: int,
    source: Connector,
    target: Connector,
    source_schema: TableSchema,
    target_schema: TableSchema,
    accumulator: DetailAccumulator,
) -> None:
    canonical = [tuple(row[:nkeys]) for row in rows]
    source_keys = [tuple(row[nkeys : 2 * nkeys]) for row in rows]
    target_keys = [tuple(row[2 * nkeys :]) for row in rows]
    source_table, source_index = _fetch_side(source, plan, source_schema, "source", source_keys)
    target_table, target_index = _fetch_side(target, plan, target_schema, "target", target_keys)
    pairs = [(source_index.get(k), target_index.get(k)) for k in canonical]
    present = [i for i, (s, t) in enumerate(pairs) if s is not None and t is not None]
    if not present:
        return
    s_take = pa.array([pairs[i][0] for i in present], pa.int64())
    t_take = pa.array([pairs[i][1] for i in present], pa.int64())
    changed = [False] * len(present)
    ruled = [False] * len(present)
    for index, column in enumerate(plan.values):
        source_raw = pc.take(source_table.column(column.source.name), s_take)
        target_raw = pc.take(target_table.column(column.target.name), t_take)
        comparison = compare_cells(column, source_raw, target_raw)
        tally = accumulator.tally(index)
        canon_s, canon_t = comparison.source_canonical.to_pylist(), comparison.target_canonical.to_pylist()
        raw_s, raw_t = (
            _python_values(column, source_raw, canon_s),
            _python_values(column, target_raw, canon_t),
        )
        for row, result in enumerate(comparison.results):
            distance = comparison.abs_diff[row]
            if distance is not None and result is not CellResult.EXACT:
                tally.max_abs = distance if tally.max_abs is None else max(tally.max_abs, distance)
                scale = max(abs(_as_float(canon_s[row])), abs(_as_float(canon_t[row])))
                if scale and column.family in (F.INTEGER, F.DECIMAL, F.FLOAT):
                    rel = distance / scale
                    tally.max_rel = rel if tally.max_rel is None else max(tally.max_rel, rel)
            if result is CellResult.UNDER_RULE:
                tally.under_rule += 1
                ruled[row] = True
            elif result is CellResult.DIFFERENT:
                tally.different += 1
                changed[row] = True
                if raw_s[row] is None:
                    tally.null_source_only += 1
                elif raw_t[row] is None:
                    tally.null_target_only += 1
                key_values = source_keys[present[row]]
                key = {p.name: json_value(v) for p, v in zip(plan.keys, key_values, strict=True)}
                accumulator.add_cell(column, key, (raw_s[row], raw_t[row], canon_s[row], canon_t[row]))
    accumulator.changed_rows += sum(changed)
    accumulator.rows_under_rule += sum(1 for c, r in zip(changed, ruled, strict=True) if r and not c)
    accumulator.flush_cells()


def _python_values(plan: ColumnPlan, raw: pa.ChunkedArray, canonical: list[Any]) -> list[Any]:
    """Raw values as Python objects; a value Python cannot hold (a date past year 9999,
    ±infinity) is shown as its canonical value ('infinity')."""
    try:
        values: list[Any] = raw.to_pylist()
    except (OverflowError, ValueError):
        values = []
        for row in range(len(raw)):
            try:
                values.append(raw[row].as_py())
            except (OverflowError, ValueError):
                values.append(canonical_display(plan, canonical[row]))
    return values


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _text(value: Any) -> str | None:
    return None if value is None else str(json_value(value))
