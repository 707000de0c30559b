"""Stream one side of a table, canonicalise each batch on arrival, keep only what the join needs.

Each side becomes a DuckDB table (in the stash database, which spills to disk) with, per row:
    k0..kn  canonical key values         r0..rn  key values as read (to fetch the row again)
    h       hash of the canonical values of every exactly-compared column (declared rules applied);
            columns hashed inside the database arrive as one ``__ph`` value (see ``sqlhash``)
    s<i>    hash of the strict canonical value of column i, for columns with declared value rules
    t<i>    canonical value of tolerant column i (compared by distance, never hashed)
    u<i>    hash of the canonical value of column i (NULL for NULL), for the columns whose repeated
            values are counted (:func:`repeated_values`); equal values hash alike
Keyless tables keep only ``h`` (and ``u<i>``) over every column and are compared as multisets.

Batches are canonicalised here (Arrow compute) and handed to DuckDB as one Arrow stream: a single
CREATE TABLE AS statement hashes the canonical columns and stores the rows, so no canonical value
is kept beyond its batch. Both sides hash with the same function over the same canonical types,
so equal canonical rows have equal ``h`` whatever engine they came from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.canonical.unreadable import UnreadableCell, readable_canonical
from pm_pipeline.core.canonical.values import Side, canonicalize
from pm_pipeline.core.connectors.schema import TypeFamily
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.reconcile.planning import TablePlan

Progress = Callable[[Side, int], None]
# An unreadable value and the raw key of its row (empty for a keyless table).
Unreadable = tuple[UnreadableCell, tuple[object, ...]]
PUSHED_HASH = "__ph"


def _stored_tolerant(array: pa.Array, plan: ColumnPlan) -> pa.Array:
    # Decimals with a tolerance are screened as doubles; the exact Decimal check runs on suspects.
    if plan.family is TypeFamily.DECIMAL:
        return array.cast(pa.float64())
    return array


def _side_column(plan: ColumnPlan, side: Side) -> str:
    return plan.source.name if side == "source" else plan.target.name


def canonical_batch(
    batch: pa.RecordBatch,
    *,
    plan: TablePlan,
    side: Side,
    pushed: frozenset[int] = frozenset(),
    unreadable: list[Unreadable] | None = None,
) -> pa.RecordBatch:
    """The canonical columns of one batch of raw rows (named by the side's own column names).

    Columns: ``k<i>``/``r<i>`` (keys), ``c<i>`` (hashed), ``v<i>`` (strict value of a column with
    declared rules), ``t<i>`` (tolerant) and ``ph`` (the hash of the columns in ``pushed``, which
    are not in the batch). ``stash_sql`` turns them into the stash row.

    A value that cannot be read as its column's family is hashed as NULL and added to
    ``unreadable`` with its row's key (without ``unreadable``, it ends the read as bad input).
    """

    def found(cells: list[UnreadableCell]) -> None:
        if unreadable is None:
            raise BadInputError(
                f"{side} column {cells[0].column} ({cells[0].data_type}) holds a value that cannot be "
                f"read as {cells[0].family}"
            )
        keys = [batch.column(_side_column(key, side)) for key in plan.keys]
        rows = pa.array([cell.row for cell in cells], pa.int64())
        values = [key.take(rows).to_pylist() for key in keys]  # one conversion per key column
        unreadable.extend((cell, tuple(column[i] for column in values)) for i, cell in enumerate(cells))

    def value(raw: pa.Array, value_plan: ColumnPlan, *, report: bool, **mode: object) -> pa.Array:
        canonical, _ = readable_canonical(
            raw, plan=value_plan, side=side, found=found if report else None, **mode
        )
        return canonical

    columns: dict[str, pa.Array] = {}
    if not plan.keyless:
        for i, key in enumerate(plan.keys):
            raw = batch.column(_side_column(key, side))
            columns[f"k{i}"] = canonicalize(raw, plan=key, side=side, strict=False)
            columns[f"r{i}"] = raw
    for i, value_plan in enumerate(plan.values):
        if i in pushed:
            continue
        raw = batch.column(_side_column(value_plan, side))
        if value_plan.tolerant and not plan.keyless:
            canonical = value(raw, value_plan, report=True, strict=False)
            columns[f"t{i}"] = _stored_tolerant(canonical, value_plan)
            continue
        # Keyless rows are never compared cell by cell: their hash reads zero dates as the cells do.
        columns[f"c{i}"] = value(
            raw, value_plan, report=True, strict=False, for_hash=True, for_cells=plan.keyless
        )
        if value_plan.has_value_rules and not plan.keyless:
            columns[f"v{i}"] = value(raw, value_plan, report=False, strict=True)
    if pushed:
        columns["ph"] = batch.column(PUSHED_HASH).cast(pa.int64())
    arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in columns.values()]
    return pa.RecordBatch.from_arrays(arrays, names=list(columns))


def stash_sql(names: list[str], counted: frozenset[int] = frozenset()) -> str:
    """The stash row for the columns ``names`` of ``canonical_batch``: keys, hashes, tolerant values,
    and the hashes of the values of the columns in ``counted`` (``u<i>``)."""
    hashed = [name for name in names if name.startswith("c") or name == "ph"]
    selects = [name for name in names if name[0] in "kr"]
    selects.append(f"hash({', '.join(hashed)}) AS h" if hashed else "0::UBIGINT AS h")
    selects += [f"hash({name}) AS s{name[1:]}" for name in names if name.startswith("v")]
    selects += [name for name in names if name.startswith("t")]
    selects += [
        f"CASE WHEN c{i} IS NULL THEN NULL ELSE hash(c{i}) END AS u{i}"
        for i in sorted(counted)
        if f"c{i}" in names
    ]
    return f"SELECT {', '.join(selects)} FROM incoming"


def repeated_values(
    connection: duckdb.DuckDBPyConnection, name: str, counted: frozenset[int]
) -> dict[int, int]:
    """For each column ``i`` in ``counted`` that stash ``name`` holds: how many of its present values
    repeat the hash of another (present values minus distinct hashes). Equal canonical values hash
    alike, so 0 proves the column's present values distinct; a count above 0 may, rarely, be a
    collision of two different values' 64-bit hashes."""
    columns = {row[0] for row in connection.execute(f'DESCRIBE "{name}"').fetchall()}
    present = [i for i in sorted(counted) if f"u{i}" in columns]
    if not present:
        return {}
    parts = ", ".join(f"COUNT(u{i}) - COUNT(DISTINCT u{i})" for i in present)
    row = connection.execute(f'SELECT {parts} FROM "{name}"').fetchone()
    assert row is not None
    return {i: int(count) for i, count in zip(present, row, strict=True)}


class DistinctValues:
    """The distinct present canonical values of some value columns of one side, each column's kept
    while they number at most ``cap`` (then None: the column holds more)."""

    def __init__(self, columns: Iterable[int], cap: int) -> None:
        self._cap = cap
        self.values: dict[int, set[object] | None] = {i: set() for i in columns}

    def observe(self, batch: pa.RecordBatch) -> None:
        """Take one canonical batch (``canonical_batch``'s ``c<i>`` columns)."""
        for i, seen in self.values.items():
            name = f"c{i}"
            if seen is None or name not in batch.schema.names:
                continue
            unique = pc.unique(batch.column(name).drop_null())
            if len(unique) > self._cap:
                self.values[i] = None
                continue
            seen.update(unique.to_pylist())
            if len(seen) > self._cap:
                self.values[i] = None


@dataclass
class StashResult:
    table: str
    rows: int
    # Columns of ``counted`` whose first batch already repeated values: how many it repeated (a
    # lower bound of the table's); the others are hashed in the stash (``repeated_values``).
    first_repeats: dict[int, int] = field(default_factory=dict)


def _repeated_in(batch: pa.RecordBatch, i: int) -> int:
    """Present values of canonical column ``c<i>`` in ``batch`` minus its distinct ones."""
    values = batch.column(f"c{i}").drop_null()
    return len(values) - len(pc.unique(values))


def fill_stash(
    connection: duckdb.DuckDBPyConnection,
    *,
    name: str,
    batches: Iterator[pa.RecordBatch],
    plan: TablePlan,
    side: Side,
    progress: Progress | None = None,
    pushed: frozenset[int] = frozenset(),
    unreadable: list[Unreadable] | None = None,
    counted: frozenset[int] = frozenset(),
    distinct: DistinctValues | None = None,
) -> StashResult:
    """Create DuckDB table ``name`` from the stream; returns the number of rows read. The stash
    keeps the hashes of the values of the value columns in ``counted`` (see :func:`repeated_values`)
    whose first batch repeats none: a column the first batch already shows repeating gets its
    count there (``StashResult.first_repeats``), and costs nothing more. ``distinct`` sees every
    canonical batch on its way.

    An error raised while reading or canonicalising is raised as itself, not as DuckDB's wrapper.
    """
    canonical = (
        canonical_batch(batch, plan=plan, side=side, pushed=pushed, unreadable=unreadable)
        for batch in batches
    )
    first = next(canonical, None)
    if first is None:
        first = canonical_batch(_empty_batch(plan, side, pushed), plan=plan, side=side, pushed=pushed)
    schema = first.schema
    present = [i for i in sorted(counted) if f"c{i}" in schema.names]
    first_repeats = {i: n for i in present if (n := _repeated_in(first, i))}
    hashed = frozenset(present) - first_repeats.keys()
    rows = 0
    failure: list[BaseException] = []

    def stream() -> Iterator[pa.RecordBatch]:
        nonlocal rows
        try:
            batch: pa.RecordBatch | None = first
            while batch is not None:
                if not batch.schema.equals(schema):
                    batch = batch.cast(schema)
                if distinct is not None:
                    distinct.observe(batch)
                yield batch
                rows += batch.num_rows
                if progress is not None and batch.num_rows:
                    progress(side, batch.num_rows)
                batch = next(canonical, None)
        except Exception as exc:
            failure.append(exc)
            raise

    cursor = connection.cursor()
    try:
        cursor.register("incoming", pa.RecordBatchReader.from_batches(schema, stream()))
        cursor.execute(f'CREATE TABLE "{name}" AS {stash_sql(schema.names, hashed)}')
    except Exception:
        if failure:
            raise failure[0] from None
        raise
    finally:
        cursor.close()
    return StashResult(table=name, rows=rows, first_repeats=first_repeats)


def _empty_batch(plan: TablePlan, side: Side, pushed: frozenset[int]) -> pa.RecordBatch:
    kept = [*plan.keys, *(p for i, p in enumerate(plan.values) if i not in pushed)]
    fields = [pa.field(_side_column(p, side), pa.string()) for p in kept]
    if pushed:
        fields.append(pa.field(PUSHED_HASH, pa.int64()))
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in fields], schema=pa.schema(fields))
