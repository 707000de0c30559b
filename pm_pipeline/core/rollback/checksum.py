"""Canonical table checksums, built on the integrity feature's row definition.

Each row is canonicalised column by column (the table planned against itself, keys first) and
digested with :func:`pm_pipeline.core.integrity.checksum.row_digest` (SHA-256 of the JSON array of
canonical values); the table checksum is the integrity feature's sum of row digests modulo
2**256. Unlike the integrity checksum, every column counts, floats included: a restore must be
exact. For a table without tolerant columns both checksums are equal (a test holds them to it).
Row digests are kept per primary key so that rows changed since a snapshot can be found.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from pm_pipeline.core.canonical import canonicalize
from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.integrity.checksum import row_digest
from pm_pipeline.core.reconcile.planning import TablePlan, plan_table

_MOD = 2**256


@dataclass(frozen=True)
class TableDigest:
    """Row digests of one table, keyed by the canonical primary key when the table has one."""

    rows: int
    checksum: str
    by_key: dict[str, str]  # canonical key (JSON) -> row digest; empty for keyless tables
    keyless: list[str]  # row digests of a keyless table


def _hex(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot render {type(value).__name__} in a key")


def self_plan(schema: TableSchema) -> TablePlan:
    return plan_table(mapping=TableMapping(source=schema.name), source=schema, target=schema)


def _canonical_columns(batch: pa.RecordBatch, plan: TablePlan) -> list[list[Any]]:
    return [
        canonicalize(batch.column(p.name), plan=p, side="source", strict=True).to_pylist()
        for p in plan.all_plans
    ]


def digest_batches(batches: Iterable[pa.RecordBatch], schema: TableSchema) -> TableDigest:
    """Digest a table streamed as Arrow batches (from a database or a snapshot's Parquet file)."""
    plan = self_plan(schema)
    key_count = len(plan.keys)
    by_key: dict[str, str] = {}
    keyless: list[str] = []
    rows = 0
    for batch in batches:
        columns = _canonical_columns(batch, plan)
        for index in range(batch.num_rows):
            values = [column[index] for column in columns]
            digest = f"{row_digest(values):064x}"
            if key_count:
                key = json.dumps(values[:key_count], separators=(",", ":"), default=_hex)
                by_key[key] = digest
            else:
                keyless.append(digest)
            rows += 1
    digests = by_key.values() if key_count else keyless
    checksum = f"{sum(int(d, 16) for d in digests) % _MOD:064x}"
    return TableDigest(rows=rows, checksum=checksum, by_key=by_key, keyless=keyless)


def table_checksum(connector: Any, table: str, *, schema: TableSchema | None = None) -> TableDigest:
    """Digest a live table through ``connector.stream_table``."""
    schema = schema or connector.introspect(table)
    return digest_batches(connector.stream_table(table, schema=schema), schema)
