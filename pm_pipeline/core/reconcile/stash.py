"""Stream one side of a table, canonicalise and hash each batch on arrival, keep only what the join needs.

Each side becomes a DuckDB table (on disk, so it spills) with, per row:
    k0..kn  canonical key values         r0..rn  key values as read (to fetch the row again)
    h       hash of the canonical values of every exactly-compared column (declared rules applied);
            columns hashed inside the database arrive as one ``__ph`` value (see ``sqlhash``)
    s<i>    hash of the strict canonical value of column i, for columns with declared value rules
    t<i>    canonical value of tolerant column i (compared by distance, never hashed)
Keyless tables keep only ``h`` over every column and are compared as multisets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import duckdb
import polars as pl
import pyarrow as pa

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.canonical.values import Side, canonicalize
from pm_pipeline.core.connectors.schema import TypeFamily
from pm_pipeline.core.reconcile.planning import TablePlan

HASH_SEED = 0x5EED
Progress = Callable[[Side, int], None]


def _hash_columns(columns: dict[str, pa.Array], rows: int) -> pa.Array:
    if not columns:
        return pa.array([0] * rows, pa.uint64())
    frame = pl.from_arrow(pa.table(columns))
    assert isinstance(frame, pl.DataFrame)
    hashed = frame.select(pl.struct(list(columns)).hash(seed=HASH_SEED).alias("h"))
    return hashed.to_arrow().column("h").combine_chunks()


def _stored_tolerant(array: pa.Array, plan: ColumnPlan) -> pa.Array:
    # Decimals with a tolerance are screened as doubles; the exact Decimal check runs on suspects.
    if plan.family is TypeFamily.DECIMAL:
        return array.cast(pa.float64())
    return array


def _side_column(plan: ColumnPlan, side: Side) -> str:
    return plan.source.name if side == "source" else plan.target.name


PUSHED_HASH = "__ph"


def stash_batch(
    batch: pa.RecordBatch, *, plan: TablePlan, side: Side, pushed: frozenset[int] = frozenset()
) -> pa.Table:
    """The stash rows for one batch of raw rows (named by the side's own column names).

    Value columns whose index is in ``pushed`` are not in the batch: their hash is column ``__ph``.
    """
    columns: dict[str, pa.Array] = {}
    rows = batch.num_rows
    pushed_hash = {"ph": batch.column(PUSHED_HASH).cast(pa.int64())} if pushed else {}
    if plan.keyless:
        canon = {
            f"c{i}": canonicalize(batch.column(_side_column(p, side)), plan=p, side=side, strict=False)
            for i, p in enumerate(plan.values)
            if i not in pushed
        }
        columns["h"] = _hash_columns({**canon, **pushed_hash}, rows)
        return pa.table(columns)
    for i, key in enumerate(plan.keys):
        raw = batch.column(_side_column(key, side))
        columns[f"k{i}"] = canonicalize(raw, plan=key, side=side, strict=False)
        columns[f"r{i}"] = raw
    hashed: dict[str, pa.Array] = {}
    for i, value_plan in enumerate(plan.values):
        if i in pushed:
            continue
        raw = batch.column(_side_column(value_plan, side))
        if value_plan.tolerant:
            canonical = canonicalize(raw, plan=value_plan, side=side, strict=False)
            columns[f"t{i}"] = _stored_tolerant(canonical, value_plan)
            continue
        hashed[f"c{i}"] = canonicalize(raw, plan=value_plan, side=side, strict=False)
        if value_plan.has_value_rules:
            strict = canonicalize(raw, plan=value_plan, side=side, strict=True)
            columns[f"s{i}"] = _hash_columns({"v": strict}, rows)
    columns["h"] = _hash_columns({**hashed, **pushed_hash}, rows)
    return pa.table(columns)


@dataclass
class StashResult:
    table: str
    rows: int


def fill_stash(
    connection: duckdb.DuckDBPyConnection,
    *,
    name: str,
    batches: Iterator[pa.RecordBatch],
    plan: TablePlan,
    side: Side,
    progress: Progress | None = None,
    pushed: frozenset[int] = frozenset(),
) -> StashResult:
    """Create DuckDB table ``name`` from the stream; returns the number of rows read."""
    cursor = connection.cursor()
    rows = 0
    created = False
    try:
        for batch in batches:
            stash = stash_batch(batch, plan=plan, side=side, pushed=pushed)
            cursor.register("incoming", stash)
            if not created:
                cursor.execute(f'CREATE TABLE "{name}" AS SELECT * FROM incoming')
                created = True
            else:
                cursor.execute(f'INSERT INTO "{name}" SELECT * FROM incoming')
            cursor.unregister("incoming")
            rows += batch.num_rows
            if progress is not None:
                progress(side, batch.num_rows)
        if not created:
            empty = stash_batch(_empty_batch(plan, side, pushed), plan=plan, side=side, pushed=pushed)
            cursor.register("incoming", empty)
            cursor.execute(f'CREATE TABLE "{name}" AS SELECT * FROM incoming')
            cursor.unregister("incoming")
    finally:
        cursor.close()
    return StashResult(table=name, rows=rows)


def _empty_batch(plan: TablePlan, side: Side, pushed: frozenset[int]) -> pa.RecordBatch:
    kept = [*plan.keys, *(p for i, p in enumerate(plan.values) if i not in pushed)]
    fields = [pa.field(_side_column(p, side), pa.string()) for p in kept]
    if pushed:
        fields.append(pa.field(PUSHED_HASH, pa.int64()))
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in fields], schema=pa.schema(fields))
