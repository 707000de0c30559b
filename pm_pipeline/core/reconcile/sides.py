# Over 300 lines: what one side sends under every strategy (filters, key ranges, local hashes) is read in one pass.
"""What each side of a table sends to the stash, under each strategy.

    arrow     every compared column travels as Arrow; both sides hash on our side.
    pushdown  each database hashes the canonical text of the columns it can render
              (``sqlhash``); only keys, that hash and the columns it cannot render travel.
    bucket    each database first sums row hashes per bucket of the key hash; only rows of
              buckets that differ are then read as in ``pushdown``.

Engines without a hash function in SQL (SQLite) compute the same hash on our side, so any
pair can use pushdown. A partition (index, count) keeps the rows whose key hash modulo ``count``
is ``index``: pushed into the WHERE clause where the engine can hash keys. Both sides of a pair
hash keys alike: with the engines' own hash only when both can hash the key in SQL, else with
the canonical hash (in SQL where a side can render the key, on our side where it cannot). A
table without a key has no key hash: its partition 0 holds every row, the others none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.canonical.unreadable import UnreadableCell, readable_canonical
from pm_pipeline.core.canonical.values import Side, canonicalize
from pm_pipeline.core.config import spec
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import TableSchema, TypeFamily
from pm_pipeline.core.dialects import Dialect
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.reconcile import sqlhash
from pm_pipeline.core.reconcile.planning import TablePlan
from pm_pipeline.core.reconcile.stash import PUSHED_HASH, Unreadable

STRATEGIES = spec.STRATEGIES  # re-exported for the strategy choice


@dataclass(frozen=True)
class SideReader:
    """How one side is read: its connector, table, schema and dialect (None: hash on our side)."""

    side: Side
    connector: Connector
    table: str
    schema: TableSchema
    dialect: Dialect | None
    native: bool = False  # both sides are the same engine with identical column types
    native_keys: bool = False  # ... and both hash the key in SQL: the key hash is native too

    def column_name(self, plan: ColumnPlan) -> str:
        return (plan.source if self.side == "source" else plan.target).name

    def select(self, plan: ColumnPlan, *, compact: bool = False) -> str:
        """The column under its own name; ``compact``: in the form read only to be canonicalised
        (``Connector.compact_expression``), when the pair compares it in its own family and no
        value map reads its text."""
        column = self.schema.column(self.column_name(plan))
        compact = compact and plan.family is column.family and not plan.rule.value_map
        read = self.connector.compact_expression if compact else self.connector.select_expression
        return f"{read(column)} AS {self.connector.quote(column.name)}"

    @property
    def native_hash(self) -> bool:
        """Hash typed values with the engine's own record hash (identical same-engine types)."""
        return self.native and self.dialect is not None and self.dialect.has_native_row_hash

    def text_sql(self, plan: ColumnPlan) -> str | None:
        """The canonical text of a column in SQL, or None if the engine cannot render it."""
        if self.dialect is None:
            return None
        quoted = self.connector.quote(self.column_name(plan))
        return sqlhash.canonical_text_sql(self.dialect, plan, self.side, quoted)

    def hash_sql(self, plans: Sequence[ColumnPlan]) -> str | None:
        if self.dialect is None:
            return None
        return sqlhash.row_hash_sql(self.dialect, plans, self.side, self.connector.quote, native=self.native)

    def key_hash_sql(self, plan: TablePlan) -> str | None:
        """The key hash in SQL, or None when this side hashes its keys on our side."""
        if self.dialect is None or not plan.keys:
            return None
        return sqlhash.row_hash_sql(
            self.dialect, plan.keys, self.side, self.connector.quote, native=self.native_keys
        )


def make_readers(
    plan: TablePlan,
    source: Connector,
    target: Connector,
    source_schema: TableSchema,
    target_schema: TableSchema,
) -> tuple[SideReader, SideReader]:
    dialects = (sqlhash.dialect_of(source.engine), sqlhash.dialect_of(target.engine))
    native = (
        dialects[0] is not None
        and dialects[0] == dialects[1]
        and all(p.source.data_type == p.target.data_type for p in plan.all_plans)
    )
    readers = (
        SideReader("source", source, plan.table, source_schema, dialects[0], native),
        SideReader("target", target, plan.target_table, target_schema, dialects[1], native),
    )
    # A side that cannot render a key column hashes its keys on our side with the canonical
    # hash: the other side must then use the canonical hash too, never the engine's own.
    keys_in_sql = all(r.dialect is not None and r.hash_sql(plan.keys) is not None for r in readers)
    if not (native and keys_in_sql and plan.keys):
        return readers
    return (
        dataclasses.replace(readers[0], native_keys=True),
        dataclasses.replace(readers[1], native_keys=True),
    )


def pushed_columns(plan: TablePlan, readers: Sequence[SideReader]) -> frozenset[int]:
    """Value columns both sides can hash canonically (a side hashing locally can hash any). A
    keyless table keeps zero-date columns on our side: SQL hashes keep a zero date apart from
    NULL, and its rows are never compared cell by cell, where the zero_date rule applies."""
    return frozenset(
        i
        for i, p in enumerate(plan.values)
        if sqlhash.pushable(p)
        and not (plan.keyless and p.maps_zero_dates)
        and all(r.dialect is None or r.text_sql(p) is not None for r in readers)
    )


def key_bucket_sql(reader: SideReader, plan: TablePlan, count: int, stride: int = 1) -> str | None:
    """The key's bucket of ``count`` in SQL (see ``sqlhash.bucket_sql``), or None: hashed on our side."""
    hashed = reader.key_hash_sql(plan)
    if hashed is None or reader.dialect is None:
        return None
    return sqlhash.bucket_sql(reader.dialect, hashed, count, stride)


def _where(conditions: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def _in_list(values: Sequence[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


@dataclass(frozen=True)
class Slice:
    """Rows to read: a partition of the key hash and/or a set of buckets (bucket strategy)."""

    partition: tuple[int, int] | None = None
    buckets: tuple[int, ...] | None = None
    bucket_count: int | None = None

    @property
    def bucket_stride(self) -> int:
        """Buckets take the key hash's quotient by the partition count (independent bits)."""
        return self.partition[1] if self.partition is not None else 1


def stream_side(
    reader: SideReader,
    plan: TablePlan,
    *,
    pushed: frozenset[int],
    part: Slice,
    batch_rows: int,
    unreadable: list[Unreadable] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Batches of raw keys, ``__ph`` (when ``pushed``) and the other value columns. A value hashed
    here that cannot be read as its family is hashed as NULL and added to ``unreadable``."""
    if part.buckets is not None and not part.buckets:
        return
    if plan.keyless and part.partition is not None:
        if part.partition[0] != 0:
            return
        part = Slice()
    conditions: list[str] = []
    local_filter: list[tuple[int, int, tuple[int, ...]]] = []  # (count, stride, wanted) applied here
    for count, stride, wanted in _filters(part):
        expression = key_bucket_sql(reader, plan, count, stride)
        if expression is None:
            local_filter.append((count, stride, wanted))
        else:
            condition = (
                f"{expression} = {wanted[0]}" if len(wanted) == 1 else f"{expression} IN ({_in_list(wanted)})"
            )
            conditions.append(condition)
    kept_values = [p for i, p in enumerate(plan.values) if i not in pushed]
    pushed_plans = [p for i, p in enumerate(plan.values) if i in pushed]
    remote_hash = reader.hash_sql(pushed_plans) if pushed else None
    # Keys are read as they are (they fetch rows again); values only need to canonicalise.
    selects = [reader.select(p) for p in plan.keys] + [reader.select(p, compact=True) for p in kept_values]
    local_hash_plans: list[ColumnPlan] = []
    if pushed and remote_hash is None:
        local_hash_plans = pushed_plans
        selects += [reader.select(p, compact=True) for p in pushed_plans]
    elif remote_hash is not None:
        selects.append(f"{remote_hash} AS {reader.connector.quote(PUSHED_HASH)}")
    source = f"SELECT {', '.join(selects)} FROM {reader.connector.qualified(reader.table)}"
    range_key = _range_key(reader, plan)
    if range_key is None:
        batches = reader.connector.stream_query(f"{source}{_where(conditions)}", batch_rows=batch_rows)
    else:
        batches = _read_key_ranges(reader, range_key, source, conditions, batch_rows)
    if not local_filter and not local_hash_plans:
        yield from batches
        return
    local = duckdb.connect(config={"memory_limit": "64MB", "threads": 1})
    try:
        for batch in batches:
            for count, stride, wanted in local_filter:
                batch = _filter_buckets(local, batch, reader, plan, (count, stride, wanted))
            if local_hash_plans and batch.num_rows:
                batch = _add_local_hash(local, batch, reader, plan, local_hash_plans, unreadable)
            if batch.num_rows:
                yield batch
    finally:
        local.close()


RANGE_ROWS = 1_000_000  # rows per query when a side is read in key ranges
RANGED_TABLE_ROWS = 2 * RANGE_ROWS  # smaller tables are read in one query


def _range_key(reader: SideReader, plan: TablePlan) -> str | None:
    """The integer primary key to read a large table by (``Connector.reads_key_ranges``), or None."""
    if not reader.connector.reads_key_ranges or len(plan.keys) != 1:
        return None
    column = reader.schema.column(reader.column_name(plan.keys[0]))
    if column.family is not TypeFamily.INTEGER or reader.schema.primary_key != (column.name,):
        return None
    estimate = reader.connector.estimate_rows(reader.table)
    return column.name if estimate is not None and estimate > RANGED_TABLE_ROWS else None


def _read_key_ranges(
    reader: SideReader, key: str, source: str, conditions: Sequence[str], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """The rows of ``source`` (filtered by ``conditions``), one primary-key range per query.

    The first range is ``RANGE_ROWS`` keys wide, so it holds at most that many rows; the next
    widths follow the key density seen so far (growing at most fourfold per range), so a driver
    that reads ahead holds about ``RANGE_ROWS`` rows, more only where a dense run of keys follows
    a sparse one. Ranges are read one after the other: the side is not one point in time (rows
    written meanwhile may be read or not).
    """
    connector = reader.connector
    quoted = connector.quote(key)
    table = connector.qualified(reader.table)
    low, high = connector.execute(f"SELECT MIN({quoted}), MAX({quoted}) FROM {table}")[0]
    if low is None:
        return
    low, high = int(low), int(high)
    width = RANGE_ROWS
    start = low
    while start <= high:
        stop = start + width
        bounds = [*conditions, f"{quoted} >= {start}", f"{quoted} < {stop}"]
        read = 0
        for batch in connector.stream_query(f"{source}{_where(bounds)}", batch_rows=batch_rows):
            read += batch.num_rows
            yield batch
        # Aim the next range at RANGE_ROWS rows, growing at most fourfold past sparse stretches.
        width = max(1, min(width * 4, width * RANGE_ROWS // read)) if read else width * 4
        start = stop


def _filters(part: Slice) -> list[tuple[int, int, tuple[int, ...]]]:
    filters: list[tuple[int, int, tuple[int, ...]]] = []
    if part.partition is not None:
        index, count = part.partition
        filters.append((count, 1, (index,)))
    if part.buckets is not None and part.bucket_count is not None:
        filters.append((part.bucket_count, part.bucket_stride, part.buckets))
    return filters


def _canonical(batch: pa.RecordBatch, reader: SideReader, plans: Sequence[ColumnPlan]) -> list[pa.Array]:
    return [
        canonicalize(batch.column(reader.column_name(p)), plan=p, side=reader.side, strict=False)
        for p in plans
    ]


def _filter_buckets(
    local: duckdb.DuckDBPyConnection,
    batch: pa.RecordBatch,
    reader: SideReader,
    plan: TablePlan,
    wanted_buckets: tuple[int, int, tuple[int, ...]],
) -> pa.RecordBatch:
    count, stride, wanted = wanted_buckets
    keys = _canonical(batch, reader, plan.keys)
    buckets = sqlhash.local_hashes(
        local,
        keys,
        [p.family for p in plan.keys],
        rows=batch.num_rows,
        bucket_count=count,
        bucket_stride=stride,
    )
    mask = pc.is_in(buckets, value_set=pa.array(wanted, pa.int64()))
    return batch.filter(mask)


def _add_local_hash(
    local: duckdb.DuckDBPyConnection,
    batch: pa.RecordBatch,
    reader: SideReader,
    plan: TablePlan,
    plans: Sequence[ColumnPlan],
    unreadable: list[Unreadable] | None,
) -> pa.RecordBatch:
    def found(cells: list[UnreadableCell]) -> None:
        if unreadable is None:
            raise BadInputError(
                f"{reader.side} column {cells[0].column} ({cells[0].data_type}) holds a value that "
                f"cannot be read as {cells[0].family}"
            )
        keys = [batch.column(reader.column_name(key)) for key in plan.keys]
        rows = pa.array([cell.row for cell in cells], pa.int64())
        values = [key.take(rows).to_pylist() for key in keys]  # one conversion per key column
        unreadable.extend((cell, tuple(column[i] for column in values)) for i, cell in enumerate(cells))

    canonical = [
        readable_canonical(
            batch.column(reader.column_name(p)), plan=p, side=reader.side, found=found, strict=False
        )[0]
        for p in plans
    ]
    hashes = sqlhash.local_hashes(local, canonical, [p.family for p in plans], rows=batch.num_rows)
    names = {reader.column_name(p) for p in plans}
    keep = [i for i, name in enumerate(batch.schema.names) if name not in names]
    arrays = [batch.column(i) for i in keep] + [hashes]
    fields = [batch.schema.field(i) for i in keep] + [pa.field(PUSHED_HASH, pa.int64())]
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
