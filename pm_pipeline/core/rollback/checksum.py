"""Canonical table checksums, built on the integrity feature's row definition.

Each row is canonicalised column by column (the table planned against itself, keys first) and
digested as the integrity feature does (:mod:`pm_pipeline.core.integrity.rowhash`: SHA-256 of the
JSON array of canonical values); the table checksum is the integrity feature's sum of row digests
modulo 2**256. Unlike the integrity checksum, every column counts, floats included: a restore must be
exact. For a table without tolerant columns both checksums are equal (a test holds them to it).
Row digests are kept per primary key so that rows changed since a snapshot can be found.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from pm_pipeline.core.canonical import canonicalize
from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.integrity.rowhash import digest_sum, json_arrays, row_digests
from pm_pipeline.core.reconcile.planning import TablePlan, plan_table

_MOD = 2**256


@dataclass(frozen=True)
class TableDigest:
    """Row digests of one table, keyed by the canonical primary key when the table has one."""

    rows: int
    checksum: str
    by_key: dict[str, str]  # canonical key (JSON) -> row digest; empty for keyless tables
    keyless: list[str]  # row digests of a keyless table


def self_plan(schema: TableSchema) -> TablePlan:
    return plan_table(mapping=TableMapping(source=schema.name), source=schema, target=schema)


def _canonical_columns(batch: pa.RecordBatch, plan: TablePlan) -> list[pa.Array]:
    return [canonicalize(batch.column(p.name), plan=p, side="source", strict=True) for p in plan.all_plans]


def digest_batches(batches: Iterable[pa.RecordBatch], schema: TableSchema) -> TableDigest:
    """Digest a table streamed as Arrow batches (from a database or a snapshot's Parquet file)."""
    plan = self_plan(schema)
    key_count = len(plan.keys)
    by_key: dict[str, str] = {}
    keyless: list[str] = []
    rows = total = 0
    for batch in batches:
        columns = _canonical_columns(batch, plan)
        digests = row_digests(columns, num_rows=batch.num_rows)
        hex_digests = [digest.hex() for digest in digests]
        if key_count:
            keys = json_arrays(columns[:key_count], num_rows=batch.num_rows, key=True).to_pylist()
            by_key.update(zip(keys, hex_digests, strict=True))
        else:
            keyless.extend(hex_digests)
        total += digest_sum(digests)
        rows += batch.num_rows
    if key_count and len(by_key) < rows:
        # A repeated key keeps only its last row's digest, and only that one counts.
        total = sum(int(digest, 16) for digest in by_key.values())
    checksum = f"{total % _MOD:064x}"
    return TableDigest(rows=rows, checksum=checksum, by_key=by_key, keyless=keyless)


def table_checksum(connector: Any, table: str, *, schema: TableSchema | None = None) -> TableDigest:
    """Digest a live table through ``connector.stream_table``."""
    schema = schema or connector.introspect(table)
    return digest_batches(connector.stream_table(table, schema=schema), schema)


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
