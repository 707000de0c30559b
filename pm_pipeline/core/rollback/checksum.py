"""Canonical table checksums, built on the integrity feature's row definition.

Each row is canonicalised column by column (the table planned against itself, keys first) and
digested as the integrity feature does (:mod:`pm_pipeline.core.digest.rows`: SHA-256 of the
JSON array of canonical values); the table checksum is the integrity feature's sum of row digests
modulo 2**256. Unlike the integrity checksum, every column counts, floats included: a restore must be
exact. For a table without tolerant columns both checksums are equal (a test holds them to it).

A checksum keeps one batch in memory at a time. Only with ``keep_keys`` are the row digests kept
too (per primary key, or in read order for a keyless table), for callers that compare rows; a key
read twice then counts once, with its last row, as in ``by_key``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from pm_pipeline.core.canonical import canonicalize
from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.digest.rows import digest_sum, json_arrays, row_digests
from pm_pipeline.core.reconcile.planning import TablePlan, plan_table

_MOD = 2**256


@dataclass(frozen=True)
class TableDigest:
    """Rows and checksum of one table; with ``keep_keys``, the row digests as well."""

    rows: int
    checksum: str
    by_key: dict[str, str] = field(default_factory=dict)  # canonical key (JSON) -> row digest
    keyless: list[str] = field(default_factory=list)  # row digests of a keyless table, in read order


@dataclass(frozen=True)
class DigestedBatch:
    """One batch as read, with each row's canonical key (None for a keyless table) and digest."""

    batch: pa.RecordBatch
    keys: list[str] | None
    digests: list[bytes]


def self_plan(schema: TableSchema) -> TablePlan:
    return plan_table(mapping=TableMapping(source=schema.name), source=schema, target=schema)


def _canonical_columns(batch: pa.RecordBatch, plan: TablePlan) -> list[pa.Array]:
    return [canonicalize(batch.column(p.name), plan=p, side="source", strict=True) for p in plan.all_plans]


def iter_digests(
    batches: Iterable[pa.RecordBatch], schema: TableSchema, *, keys: bool = True
) -> Iterator[DigestedBatch]:
    """Each batch with its rows' digests and, with ``keys`` and a primary key, their canonical keys."""
    plan = self_plan(schema)
    key_count = len(plan.keys) if keys else 0
    for batch in batches:
        columns = _canonical_columns(batch, plan)
        digests = row_digests(columns, num_rows=batch.num_rows)
        row_keys = (
            json_arrays(columns[:key_count], num_rows=batch.num_rows, key=True).to_pylist()
            if key_count
            else None
        )
        yield DigestedBatch(batch, row_keys, digests)


def digest_batches(
    batches: Iterable[pa.RecordBatch], schema: TableSchema, *, keep_keys: bool = False
) -> TableDigest:
    """Digest a table streamed as Arrow batches (from a database or a snapshot's Parquet file).

    Without ``keep_keys`` memory stays bounded by one batch, whatever the row count. With it,
    ``by_key`` (or ``keyless``) holds every row's digest, and a key read more than once counts
    once, with its last row's digest.
    """
    by_key: dict[str, str] = {}
    keyless: list[str] = []
    rows = total = 0
    for digested in iter_digests(batches, schema, keys=keep_keys):
        if keep_keys:
            hex_digests = [digest.hex() for digest in digested.digests]
            if digested.keys is not None:
                by_key.update(zip(digested.keys, hex_digests, strict=True))
            else:
                keyless.extend(hex_digests)
        total += digest_sum(digested.digests)
        rows += digested.batch.num_rows
    if by_key and len(by_key) < rows:
        # A repeated key keeps only its last row's digest, and only that one counts.
        total = sum(int(digest, 16) for digest in by_key.values())
    checksum = f"{total % _MOD:064x}"
    return TableDigest(rows=rows, checksum=checksum, by_key=by_key, keyless=keyless)


def table_checksum(
    connector: Any, table: str, *, schema: TableSchema | None = None, keep_keys: bool = False
) -> TableDigest:
    """Digest a live table through ``connector.stream_table``."""
    schema = schema or connector.introspect(table)
    return digest_batches(connector.stream_table(table, schema=schema), schema, keep_keys=keep_keys)


def select_sql(connector: Any, relation: str, schema: TableSchema) -> str:
    """The SELECT that reads ``schema``'s columns faithfully from ``relation`` (quoted, qualified)."""
    select = ", ".join(
        f"{connector.select_expression(column)} AS {connector.quote(column.name)}"
        for column in schema.columns
    )
    return f"SELECT {select} FROM {relation}"


def relation_checksum(connector: Any, relation: str, schema: TableSchema) -> TableDigest:
    """Digest a table that is not the connector's own (a snapshot copy, a shadow table) by its relation."""
    return digest_batches(connector.stream_query(select_sql(connector, relation, schema)), schema)
