"""Row and key hashes that the databases compute themselves, equal across engines.

Each database hashes the canonical text of a row's columns (``pm_pipeline.core.canonical.sqltext``
writes it in the engine's dialect): the first 60 bits of the MD5 of the row's fields, as a
non-negative BIGINT, identical in every engine that hashes rows in SQL. Engines without a hash
function (SQLite) hash on our side: :func:`local_hashes` computes the same hash from canonical
Arrow values with DuckDB, the reference every dialect is tested against.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.canonical.sqltext import (
    bucket_sql,
    canonical_text_sql,
    field_sql,
    hash60_sql,
    native_hash_sql,
    row_hash_sql,
)
from pm_pipeline.core.connectors.schema import TypeFamily
from pm_pipeline.core.dialects import Dialect, canonical_engine, dialect_for
from pm_pipeline.core.dialects.duckdb import DuckDbDialect

__all__ = [
    "Dialect",
    "bucket_sql",
    "canonical_text_sql",
    "dialect_of",
    "field_sql",
    "hash60_sql",
    "local_hashes",
    "native_hash_sql",
    "pushable",
    "row_hash_sql",
]

F = TypeFamily
_REFERENCE = DuckDbDialect()


def dialect_of(engine: str) -> Dialect | None:
    """The dialect that hashes rows of this engine in SQL, or None (hash on our side)."""
    name = canonical_engine(engine)
    hashed_by = None if name is None else dialect_for(name).row_hash_dialect
    return None if hashed_by is None else dialect_for(hashed_by)


def pushable(plan: ColumnPlan) -> bool:
    """Whether a value column's canonical form is plain enough for SQL at all (rules aside)."""
    return not (plan.tolerant or plan.has_value_rules)


# -- the reference: the same hash from canonical Arrow values ------------------------------
def _reference_text(name: str, family: TypeFamily) -> str:
    if family in (F.INTEGER, F.TIMESTAMP, F.TIMESTAMPTZ, F.TIME):
        return f"CAST({name} AS VARCHAR)"
    if family is F.BINARY:
        return f"lower(hex({name}))"
    return name


def local_hashes(
    connection: duckdb.DuckDBPyConnection,
    canonical: Sequence[pa.Array],
    families: Sequence[TypeFamily],
    *,
    rows: int,
    bucket_count: int | None = None,
    bucket_stride: int = 1,
) -> pa.Array:
    """Row hashes (or their bucket numbers) of canonical columns, equal to what the dialects compute."""
    names = [f"c{i}" for i in range(len(canonical))]
    fields = [field_sql(_REFERENCE, _reference_text(n, f)) for n, f in zip(names, families, strict=True)]
    expression = hash60_sql(_REFERENCE, fields)
    if bucket_count is not None:
        expression = bucket_sql(_REFERENCE, expression, bucket_count, bucket_stride)
    if not canonical:
        table = pa.table({"_": pa.nulls(rows, pa.int8())})
    else:
        table = pa.table(dict(zip(names, canonical, strict=True)))
    cursor = connection.cursor()
    try:
        cursor.register("canonical_rows", table)
        result = cursor.sql(f"SELECT {expression} AS h FROM canonical_rows").to_arrow_table()
        cursor.unregister("canonical_rows")
    finally:
        cursor.close()
    assert result is not None
    return result.column("h").combine_chunks().cast(pa.int64())
