# Over 300 lines: one table's reconciliation in the order it runs: plan, strategy, stash, join, diff, findings.
"""Reconcile one mapped table: stream both sides, join hashes, diff suspect rows column by column."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from pm_pipeline.core.canonical.values import Side
from pm_pipeline.core.config.spec import Endpoint, TableMapping, Thresholds
from pm_pipeline.core.connectors.base import DEFAULT_BATCH_ROWS, Connector
from pm_pipeline.core.connectors.schema import TableSchema, TypeFamily
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import (
    Category,
    ColumnFacts,
    ColumnStats,
    Finding,
    Severity,
    SideDigest,
    TableReconciliation,
    json_value,
)
from pm_pipeline.core.reconcile import join
from pm_pipeline.core.reconcile.bucket import ROWS_PER_BUCKET
from pm_pipeline.core.reconcile.choice import Choice, choose_strategy
from pm_pipeline.core.reconcile.detail import DetailAccumulator, diff_suspects
from pm_pipeline.core.reconcile.planning import TablePlan, plan_table
from pm_pipeline.core.reconcile.sides import SideReader, Slice, make_readers, stream_side
from pm_pipeline.core.reconcile.stash import (
    DistinctValues,
    Progress,
    Unreadable,
    fill_stash,
    repeated_values,
)
from pm_pipeline.core.reconcile.unreadable import linked_to_unreadable, unreadable_findings
from pm_pipeline.core.security.redaction import FIXED_MASK, Redactor


@dataclass(frozen=True)
class ReconcileOptions:
    thresholds: Thresholds = field(default_factory=Thresholds)
    batch_rows: int = DEFAULT_BATCH_ROWS
    findings_limit: int = 100_000  # findings kept in memory per table; every one is in the diff files
    detail_chunk: int = 5_000  # suspect keys fetched per round trip
    memory_limit: str = "256MB"  # the stash's DuckDB; it spills to work_dir beyond this
    fill_memory_limit: str = "64MB"  # ... while both sides stream in (each row is written once)
    work_dir: Path | None = None  # DuckDB spill files; a temporary directory by default
    diff_dir: Path | None = None  # where the full diff Parquet files are written
    redactor: Redactor | None = None  # masks classified values in the diff files
    strategy: str = "auto"  # auto (the mapping's own setting), arrow, pushdown or bucket (see ``choice``)
    strategy_source: str = "--strategy"  # who forced ``strategy`` when it is not auto, for the note
    partition: tuple[int, int] | None = None  # (index, count): only keys hashing into that bucket
    bucket_rows: int = ROWS_PER_BUCKET  # bucket strategy: rows per bucket (fewer: more, smaller buckets)
    prune_rows: int = join.PRUNE_ROWS  # stashes this large are compared by buckets before the join
    # Given each side's whole-table batches as the arrow strategy reads them: a digest of the
    # table taken on the way (the integrity checksum), so that nothing reads the table again.
    digest_tap: Callable[[TablePlan, str], BatchTap | None] | None = None
    # Count, per side, the repeated values of the value columns whose canonical values are their
    # values as the database compares them (text, UUID, integer; no declared rule), when the arrow
    # strategy reads whole tables: the generated expectations' uniqueness then needs no count of its own.
    count_repeats: bool = False
    # ... and, with count_repeats, keep the source's distinct values of such text and integer
    # columns (unclassified ones only) while they number at most this: the generated value sets.
    value_set_max: int = 0


class BatchTap(Protocol):
    """Sees every raw batch of one side's whole table, in order; ``digest`` after the last one."""

    def observe(self, batch: pa.RecordBatch) -> None: ...

    def digest(self) -> SideDigest | None: ...


def _severity(category: Category, count: int, thresholds: Thresholds) -> Severity:
    if str(category) in thresholds.tolerated_categories:
        return Severity.WARNING
    limit = {
        Category.MISSING_ROW: thresholds.max_missing_rows,
        Category.EXTRA_ROW: thresholds.max_extra_rows,
        Category.DUPLICATE_KEY: thresholds.max_duplicate_keys,
        Category.VALUE_MISMATCH: thresholds.max_changed_rows,
    }.get(category, 0)
    return Severity.WARNING if count <= limit else Severity.ERROR


def reconcile_table(
    *,
    source: Connector,
    target: Connector,
    mapping: TableMapping,
    source_endpoint: Endpoint | None = None,
    target_endpoint: Endpoint | None = None,
    options: ReconcileOptions | None = None,
    progress: Progress | None = None,
    source_schema: TableSchema | None = None,
    target_schema: TableSchema | None = None,
    plan: TablePlan | None = None,
) -> TableReconciliation:
    """Compare ``mapping.source`` on ``source`` with ``mapping.target_name`` on ``target``;
    ``plan``: the table's plan when the caller made it (over these schemas and the endpoints' zones)."""
    options = options or ReconcileOptions()
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC)
    source_schema = source_schema or source.introspect(mapping.source)
    target_schema = target_schema or target.introspect(mapping.target_name)
    plan = plan or plan_table(
        mapping=mapping,
        source=source_schema,
        target=target_schema,
        source_zone=(source_endpoint.timezone if source_endpoint else None) or "UTC",
        target_zone=(target_endpoint.timezone if target_endpoint else None) or "UTC",
    )
    work = Path(tempfile.mkdtemp(prefix="pm-reconcile-", dir=options.work_dir))
    try:
        # In memory: the stash is written once and read once, and spills to work_dir past the limit.
        connection = duckdb.connect(":memory:")
        connection.execute(f"SET memory_limit='{options.memory_limit}'")
        connection.execute(f"SET temp_directory='{work / 'spill'}'")
        connection.execute("SET preserve_insertion_order=false")
        connection.execute("SET TimeZone='UTC'")
        try:
            readers = make_readers(plan, source, target, source_schema, target_schema)
            from_options = options.strategy != "auto"
            choice = choose_strategy(
                options.strategy if from_options else mapping.strategy,
                plan,
                readers,
                partition=options.partition,
                bucket_rows=options.bucket_rows,
                forced_by=options.strategy_source if from_options else "the spec",
            )
            # Filling writes each stash row once: a small buffer suffices (the rest spills), and
            # leaves room for the batches in flight. The join gets the whole limit.
            connection.execute(f"SET memory_limit='{options.fill_memory_limit}'")
            unreadable: list[Unreadable] = []
            taps: dict[str, BatchTap] = {}
            counted = _counted_columns(plan, choice, options)
            distinct = _distinct_values(plan, counted, options)
            first: dict[str, dict[int, int]] = {}
            rows = _stash_both(
                connection,
                plan,
                readers,
                choice,
                options,
                progress,
                unreadable,
                taps,
                counted,
                distinct,
                first,
            )
            connection.execute(f"SET memory_limit='{options.memory_limit}'")
            # Before the join, which sets duplicate keys aside: every row read counts.
            repeats = _repeats(connection, plan, counted, first) if counted and not unreadable else None
            if plan.keyless:
                result = _keyless(connection, plan, rows, options)
            else:
                result = _keyed(connection, plan, rows, source, target, source_schema, target_schema, options)
            if unreadable:
                found = unreadable_findings(plan, unreadable, redactor=options.redactor)
                linked = linked_to_unreadable(result["findings"], found)
                result = {**result, "findings": (*found, *linked)}
            result = choice.apply(result)
            if len(taps) == 2:
                tapped = (taps["source"].digest(), taps["target"].digest())
                if tapped[0] is not None and tapped[1] is not None:
                    result["digests"] = tapped
            if repeats is not None:
                values = {} if distinct is None else _value_texts(plan, distinct)
                result["column_facts"] = ColumnFacts(repeats=repeats, source_values=values)
        except BadInputError as exc:
            raise BadInputError(f"table {plan.table}: {exc}") from exc
        finally:
            connection.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return TableReconciliation(
        **{
            **result,
            "seconds": round(time.perf_counter() - started, 3),
            "started_at": started_at,
            "finished_at": dt.datetime.now(dt.UTC),
        }
    )


def _stash_both(
    connection: duckdb.DuckDBPyConnection,
    plan: TablePlan,
    readers: tuple[SideReader, SideReader],
    choice: Choice,
    options: ReconcileOptions,
    progress: Progress | None,
    unreadable: list[Unreadable],
    taps: dict[str, BatchTap],
    counted: frozenset[int] = frozenset(),
    distinct: DistinctValues | None = None,
    first_repeats: dict[str, dict[int, int]] | None = None,
) -> tuple[int, int]:
    part = Slice(partition=options.partition, buckets=choice.buckets, bucket_count=choice.bucket_count)
    whole = _reads_whole_tables(choice, options)

    def side(reader: SideReader) -> int:
        batches = stream_side(
            reader,
            plan,
            pushed=choice.pushed,
            part=part,
            batch_rows=options.batch_rows,
            unreadable=unreadable,
        )
        tap = options.digest_tap(plan, reader.side) if whole and options.digest_tap else None
        if tap is not None:
            taps[reader.side] = tap
            batches = _tapped(batches, tap)
        name = join.SRC if reader.side == "source" else join.TGT
        stashed = fill_stash(
            connection,
            name=name,
            batches=batches,
            plan=plan,
            side=reader.side,
            progress=progress,
            pushed=choice.pushed,
            unreadable=unreadable,
            counted=counted,
            distinct=distinct if reader.side == "source" else None,
        )
        if first_repeats is not None:
            first_repeats[name] = stashed.first_repeats
        return stashed.rows

    # The two databases work at the same time; each thread only waits on its driver and DuckDB.
    with ThreadPoolExecutor(max_workers=2) as pool:
        source_rows = pool.submit(side, readers[0])
        target_rows = pool.submit(side, readers[1])
        return source_rows.result(), target_rows.result()


def _reads_whole_tables(choice: Choice, options: ReconcileOptions) -> bool:
    return choice.strategy == "arrow" and options.partition is None and choice.buckets is None


# Families whose canonical value equals another exactly when the database's own comparison of the
# values as stored (byte-wise for text) says so.
_COUNTED_FAMILIES = frozenset({TypeFamily.TEXT, TypeFamily.UUID, TypeFamily.INTEGER})


def _counted_columns(plan: TablePlan, choice: Choice, options: ReconcileOptions) -> frozenset[int]:
    """The value columns whose repeated values are counted in the stash (``count_repeats``)."""
    if not options.count_repeats or not _reads_whole_tables(choice, options):
        return frozenset()
    return frozenset(
        i
        for i, column in enumerate(plan.values)
        if i not in choice.pushed
        and not column.tolerant
        and not column.has_value_rules
        and not column.rule.null_equals_empty
        and column.family in _COUNTED_FAMILIES
        and column.source.family is column.family
        and column.target.family is column.family
    )


def _distinct_values(
    plan: TablePlan, counted: frozenset[int], options: ReconcileOptions
) -> DistinctValues | None:
    """The source's distinct values to keep (``value_set_max``): counted text and integer columns
    that no classification hides (a result may be stored where its reader's clearance is lower)."""
    columns = [
        i
        for i in sorted(counted)
        if plan.values[i].family in (TypeFamily.TEXT, TypeFamily.INTEGER)
        and plan.values[i].classification is None
    ]
    return DistinctValues(columns, options.value_set_max) if columns and options.value_set_max > 0 else None


def _value_texts(plan: TablePlan, distinct: DistinctValues) -> dict[str, tuple[str, ...]]:
    """Each kept column's distinct values as canonical text (integers in decimal), by source name."""
    return {
        plan.values[i].name: tuple(sorted(str(value) for value in values))
        for i, values in distinct.values.items()
        if values is not None
    }


def _repeats(
    connection: duckdb.DuckDBPyConnection,
    plan: TablePlan,
    counted: frozenset[int],
    first: dict[str, dict[int, int]],
) -> tuple[dict[str, int], dict[str, int]]:
    """Each side's repeated values per counted column (by the column's source name): counted over
    the stash, or, for a column its first batch already showed repeating, that batch's count (at
    most the table's: a lower bound, enough to know the column is not unique)."""
    sides = [
        {**first.get(name, {}), **repeated_values(connection, name, counted)} for name in (join.SRC, join.TGT)
    ]
    return (
        {plan.values[i].name: n for i, n in sides[0].items()},
        {plan.values[i].name: n for i, n in sides[1].items()},
    )


def _tapped(batches: Iterator[pa.RecordBatch], tap: BatchTap) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        tap.observe(batch)
        yield batch


def _key_dict(plan: TablePlan, values: tuple[Any, ...]) -> dict[str, Any]:
    return {p.name: json_value(v) for p, v in zip(plan.keys, values, strict=True)}


def _base(plan: TablePlan, rows: tuple[int, int]) -> dict[str, Any]:
    return {
        "table": plan.table,
        "target_table": plan.target_table,
        "key_columns": tuple(p.name for p in plan.keys),
        "keyless": plan.keyless,
        "source_rows": rows[0],
        "target_rows": rows[1],
        "compared_columns": len(plan.values),
    }


def keyless_message(side: Side, count: int) -> str:
    """What a keyless table's finding says of the ``count`` rows ``side`` has more of."""
    other = "target" if side == "source" else "source"
    return (
        f"{count} row(s) occur more often in the {side} than in the {other} "
        "(table has no key: compared as multisets)"
    )


def _keyless(
    connection: duckdb.DuckDBPyConnection, plan: TablePlan, rows: tuple[int, int], options: ReconcileOptions
) -> dict[str, Any]:
    missing, extra = join.run_multiset(connection)
    findings: list[Finding] = []
    thresholds = options.thresholds
    sides: tuple[tuple[Category, int, Side], ...] = (
        (Category.MISSING_ROW, missing, "source"),
        (Category.EXTRA_ROW, extra, "target"),
    )
    for category, count, side in sides:
        if count:
            findings.append(
                Finding(
                    table=plan.table,
                    category=category,
                    severity=_severity(category, count, thresholds),
                    message=keyless_message(side, count),
                    side=side,
                    count=count,
                )
            )
    return {
        **_base(plan, rows),
        "matched_rows": rows[0] - missing,  # rows found on both sides, as many times on each
        "missing_rows": missing,
        "extra_rows": extra,
        "duplicate_keys_source": 0,
        "duplicate_keys_target": 0,
        "changed_rows": 0,
        "rows_equal_under_rule": 0,
        "columns": tuple(
            ColumnStats(column=p.name, target_column=p.target_name, rule=p.rule_label) for p in plan.values
        ),
        "findings": tuple(findings),
    }


def _keyed(
    connection: duckdb.DuckDBPyConnection,
    plan: TablePlan,
    rows: tuple[int, int],
    source: Connector,
    target: Connector,
    source_schema: TableSchema,
    target_schema: TableSchema,
    options: ReconcileOptions,
) -> dict[str, Any]:
    thresholds = options.thresholds
    unique = (
        plan.key_declared_unique(source_schema, "source"),
        plan.key_declared_unique(target_schema, "target"),
    )
    outcome = join.run_join(
        connection,
        plan,
        duplicate_sample=options.findings_limit,
        unique=unique,
        prune_rows=options.prune_rows,
    )
    findings: list[Finding] = []
    limit = options.findings_limit
    duplicates: tuple[tuple[Side, list[tuple[tuple[Any, ...], int]], int], ...] = (
        ("source", outcome.duplicates_source, outcome.duplicate_count_source),
        ("target", outcome.duplicates_target, outcome.duplicate_count_target),
    )
    for side, dups, count in duplicates:
        severity = _severity(Category.DUPLICATE_KEY, count, thresholds)
        for key, n in dups:
            findings.append(
                Finding(
                    table=plan.table,
                    category=Category.DUPLICATE_KEY,
                    severity=severity,
                    key=_key_dict(plan, key),
                    message=f"key appears {n} times in the {side}",
                    side=side,
                    count=n,
                )
            )
    for category, table, count in (
        (Category.MISSING_ROW, "missing", outcome.missing_count),
        (Category.EXTRA_ROW, "extra", outcome.extra_count),
    ):
        severity = _severity(category, count, thresholds)
        key_cols = ", ".join(f"r{i}" for i in range(len(plan.keys)))
        sample = f"SELECT {key_cols} FROM {table} ORDER BY {key_cols} LIMIT {int(limit)}"
        for raw_key in connection.execute(sample).fetchall():
            findings.append(
                Finding(
                    table=plan.table,
                    category=category,
                    severity=severity,
                    key=_key_dict(plan, tuple(raw_key)),
                    message="row is in the source but not in the target"
                    if category is Category.MISSING_ROW
                    else "row is in the target but not in the source",
                )
            )
    cells_path = None if options.diff_dir is None else options.diff_dir / plan.table / "changed_cells.parquet"
    detail = DetailAccumulator(
        plan=plan, findings_limit=limit, parquet_path=cells_path, redactor=options.redactor
    )
    if outcome.suspect_count:
        diff_suspects(
            connection,
            plan=plan,
            source=source,
            target=target,
            source_schema=source_schema,
            target_schema=target_schema,
            chunk=options.detail_chunk,
            accumulator=detail,
        )
    detail.close()
    changed_severity = _severity(Category.VALUE_MISMATCH, detail.changed_rows, thresholds)
    findings.extend(detail.findings(changed_severity))
    truncated = detail.truncated or outcome.missing_count > limit or outcome.extra_count > limit
    if options.diff_dir is not None:
        _write_diff(connection, plan, options.diff_dir, options.redactor)
    columns = detail.column_stats(outcome)
    under_rule_rows = outcome.screened_rule_rows + detail.rows_under_rule
    return {
        **_base(plan, rows),
        "matched_rows": outcome.matched_count,
        "missing_rows": outcome.missing_count,
        "extra_rows": outcome.extra_count,
        "duplicate_keys_source": outcome.duplicate_count_source,
        "duplicate_keys_target": outcome.duplicate_count_target,
        "changed_rows": detail.changed_rows,
        "rows_equal_under_rule": under_rule_rows,
        "columns": columns,
        "findings": tuple(findings),
        "findings_truncated": truncated,
        "diff_path": None if options.diff_dir is None else str(options.diff_dir / plan.table),
    }


def _write_diff(
    connection: duckdb.DuckDBPyConnection, plan: TablePlan, diff_dir: Path, redactor: Redactor | None
) -> None:
    folder = diff_dir / plan.table
    folder.mkdir(parents=True, exist_ok=True)

    def key_value(index: int, name: str) -> str:
        hidden = redactor is not None and redactor.is_hidden(redactor.classification_of(plan.table, name))
        return f"'{FIXED_MASK}'" if hidden else f"r{index}"

    keys = ", ".join(f"{key_value(i, p.name)} AS {_sql_name(p.name)}" for i, p in enumerate(plan.keys))
    for table in ("missing", "extra"):
        path = str(folder / f"{table}_rows.parquet").replace("'", "''")
        connection.execute(f"COPY (SELECT {keys} FROM {table}) TO '{path}' (FORMAT parquet)")


def _sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
