"""Bucket checksums: per bucket of the key hash, a row count and the XOR of row hashes.

Each database computes its buckets in one aggregate scan; only buckets whose count or sum
differ are read row by row (``sides.stream_side`` with their numbers). The bucket row hash
covers the key, every pushed column and, for columns compared with a relative tolerance, a
bin of the value (``pm_pipeline.core.canonical.sqlbins``): equal buckets never hide a
difference; values within tolerance but in different bins only send their bucket to the
row-level comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.canonical.sqlbins import bin_text_sql, typed_bin_sql
from pm_pipeline.core.connectors.schema import TypeFamily
from pm_pipeline.core.reconcile import sqlhash
from pm_pipeline.core.reconcile.planning import TablePlan
from pm_pipeline.core.reconcile.sides import SideReader, Slice, key_bucket_sql

F = TypeFamily
MIN_REL_TOLERANCE = 1e-12  # below this, a bin number no longer fits in a BIGINT
ROWS_PER_BUCKET = 200
MAX_BUCKETS = 1 << 16
REFINE_ALL_SHARE = 0.3  # past this share of differing rows, read every row instead of filtering


def bucket_count_for(rows: int, rows_per_bucket: int = ROWS_PER_BUCKET) -> int:
    return max(1, min(MAX_BUCKETS, rows // max(1, rows_per_bucket)))


def _unique_key(plan: TablePlan, reader: SideReader) -> bool:
    names = {reader.column_name(p) for p in plan.keys}
    return any(set(key) <= names for key in reader.schema.unique_keys())


def _binnable(plan: ColumnPlan) -> bool:
    return plan.family in (F.FLOAT, F.DECIMAL, F.INTEGER) and plan.rel_tolerance >= MIN_REL_TOLERANCE


def ineligible_reason(plan: TablePlan, readers: Sequence[SideReader], pushed: frozenset[int]) -> str | None:
    """Why bucket checksums cannot be used for this table, or None."""
    if plan.keyless:
        return "the table has no key"
    for reader in readers:
        if reader.dialect is None:
            return f"{reader.connector.engine} cannot hash rows in SQL"
        if not _unique_key(plan, reader):
            return f"the key is not unique in the {reader.side} (duplicates would cancel out in a bucket sum)"
        if key_bucket_sql(reader, plan, 2) is None:
            return "a key column cannot be hashed in SQL"
    for i, column in enumerate(plan.values):
        if i in pushed:
            continue
        if not (column.tolerant and _binnable(column)):
            return f"column {column.name} ({column.rule_label}) is compared on our side only"
    return None


def row_hash_sql(reader: SideReader, plan: TablePlan, pushed: frozenset[int]) -> str:
    """A row's hash: key, pushed columns' canonical text (or typed values), tolerance bins of the rest."""
    dialect = reader.dialect
    assert dialect is not None
    fields: list[str] = []
    values: list[str] = []  # typed values for the engine's own hash functions
    types: list[str | None] = []
    for i, column in enumerate((*plan.keys, *plan.values)):
        quoted = reader.connector.quote(reader.column_name(column))
        index = i - len(plan.keys)
        if index >= 0 and index not in pushed:
            text = bin_text_sql(dialect, quoted, column.rel_tolerance)
            if reader.native_hash:
                bins = typed_bin_sql(dialect, quoted, column.rel_tolerance)
                values.extend(bins)
                types.extend([None] * len(bins))
        else:
            found = reader.text_sql(column)
            assert found is not None
            text = found
            values.append(quoted)
            types.append(reader.schema.column(reader.column_name(column)).data_type)
        fields.append(sqlhash.field_sql(dialect, text))
    if reader.native_hash:
        return sqlhash.native_hash_sql(dialect, values, types)
    return sqlhash.hash60_sql(dialect, fields)


def summary(
    reader: SideReader, plan: TablePlan, pushed: frozenset[int], count: int, part: Slice
) -> dict[int, tuple[int, str]]:
    """bucket -> (rows, XOR of row hashes as text) for one side (keys are unique: no pair cancels)."""
    assert reader.dialect is not None
    bucket = key_bucket_sql(reader, plan, count, part.bucket_stride)
    assert bucket is not None
    where = ""
    if part.partition is not None:
        index, partitions = part.partition
        where = f" WHERE {key_bucket_sql(reader, plan, partitions)} = {int(index)}"
    inner = (
        f"SELECT {bucket} AS b, {row_hash_sql(reader, plan, pushed)} AS h "
        f"FROM {reader.connector.qualified(reader.table)}{where}"
    )
    sql = (
        f"SELECT b, count(*) AS n, {reader.dialect.text_cast('bit_xor(h)')} AS s FROM ({inner}) x GROUP BY b"
    )
    with reader.connector.hash_aggregation():
        table = reader.connector.query_arrow(sql)
    if table.num_rows == 0:
        return {}
    return {
        int(b): (int(n), str(s))
        for b, n, s in zip(
            table.column("b").to_pylist(),
            table.column("n").to_pylist(),
            table.column("s").to_pylist(),
            strict=True,
        )
    }


@dataclass(frozen=True)
class BucketOutcome:
    count: int
    differing: tuple[int, ...]
    equal_rows: int  # rows in equal buckets (same number on both sides)
    source_rows: int
    target_rows: int
    summaries: tuple[dict[int, tuple[int, str]], dict[int, tuple[int, str]]] = ({}, {})

    @property
    def differing_share(self) -> float:
        total = max(self.source_rows, self.target_rows)
        return 0.0 if total == 0 else 1.0 - self.equal_rows / total


def compare_buckets(
    readers: tuple[SideReader, SideReader], plan: TablePlan, pushed: frozenset[int], count: int, part: Slice
) -> BucketOutcome:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(summary, reader, plan, pushed, count, part) for reader in readers]
        source, target = (future.result() for future in futures)
    differing = sorted(b for b in source.keys() | target.keys() if source.get(b) != target.get(b))
    differing_set = set(differing)
    equal_rows = sum(n for b, (n, _) in source.items() if b not in differing_set)
    return BucketOutcome(
        count=count,
        differing=tuple(differing),
        equal_rows=equal_rows,
        source_rows=sum(n for n, _ in source.values()),
        target_rows=sum(n for n, _ in target.values()),
        summaries=(source, target),
    )
