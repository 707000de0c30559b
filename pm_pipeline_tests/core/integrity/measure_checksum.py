"""Measure the canonical table checksum on a large DuckDB table (not a test).

    .venv/bin/python -m pm_pipeline_tests.core.integrity.measure_checksum [--rows 1000000]

Creates a DuckDB file in a temporary directory with ``--rows`` rows of 10 mixed columns (integers,
text with unicode and NULLs, decimals, timestamps, dates, booleans, binary, UUIDs), then times the
integrity checksum of one side (what ``pm-pipeline check`` runs twice per table), the rollback
snapshot digest of the same table, and a plain scan that canonicalises every batch and hashes
nothing (the floor). The digest step alone is then timed both ways over the same canonical
batches held in memory: one ``json.dumps`` per row (the definition, as computed before) and
batch-built. Prints a Markdown table of wall-clock and CPU seconds and the checksums.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from pm_pipeline.core.canonical import canonicalize
from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.digest.rows import digest_sum, row_digests
from pm_pipeline.core.integrity.checksum import checksummed, table_checksum
from pm_pipeline.core.reconcile.planning import plan_table
from pm_pipeline.core.rollback.checksum import table_checksum as rollback_checksum
from pm_pipeline_tests.core.digest.test_rows import plain_row_text

LOAD = """
CREATE TABLE wide AS SELECT
    g::BIGINT AS id,
    (g % 1000)::INTEGER AS quantity,
    CASE WHEN g % 7 = 0 THEN NULL ELSE 'name ' || g || ' Zoë' END AS name,
    ((g % 100000) / 100.0)::DECIMAL(12, 2) AS amount,
    TIMESTAMP '2024-01-01 00:00:00' + g * INTERVAL 1 SECOND AS created,
    DATE '2020-01-01' + (g % 2000)::INTEGER AS day,
    g % 3 = 0 AS flag,
    CASE WHEN g % 5 = 0 THEN NULL ELSE ('b' || g)::BLOB END AS payload,
    md5(g::VARCHAR)::UUID AS ref,
    CASE WHEN g % 11 = 0 THEN 'line "' || g || '"' ELSE 'plain' END AS note
FROM range(1, {rows} + 1) t(g)
"""


def _timed(label: str, action: Callable[[], object], results: list[tuple[str, float, float, str]]) -> None:
    start, cpu = time.perf_counter(), time.process_time()
    outcome = action()
    results.append((label, time.perf_counter() - start, time.process_time() - cpu, str(outcome)))


def _read_canonical(connector: Connector, schema: TableSchema, into: list[list[pa.Array]]) -> int:
    """Read and canonicalise every batch, keeping them for the digest-only steps; the row count."""
    plan = plan_table(mapping=TableMapping(source=schema.name), source=schema, target=schema)
    for batch in connector.stream_table(schema.name, schema=schema, batch_rows=50_000):
        into.append(
            [
                canonicalize(batch.column(index), plan=column_plan, side="source", strict=True)
                for index, column_plan in enumerate(plan.all_plans)
            ]
        )
    return sum(len(columns[0]) for columns in into)


def _per_row(batches: list[list[pa.Array]]) -> str:
    total = 0
    for columns in batches:
        for values in zip(*(column.to_pylist() for column in columns), strict=True):
            text = plain_row_text(list(values)).encode("utf-8")
            total = (total + int.from_bytes(hashlib.sha256(text).digest(), "big")) % 2**256
    return f"{total:064x}"


def _batch_built(batches: list[list[pa.Array]]) -> str:
    total = sum(digest_sum(row_digests(columns, num_rows=len(columns[0]))) for columns in batches)
    return f"{total % 2**256:064x}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "wide.duckdb"
        with duckdb.connect(str(path)) as conn:
            conn.execute(LOAD.format(rows=int(args.rows)))
        results: list[tuple[str, float, float, str]] = []
        with connect(f"duckdb:///{path}") as connector:
            schema = connector.introspect("wide")
            plan = plan_table(mapping=TableMapping(source="wide"), source=schema, target=schema)
            kept, _ = checksummed(plan.all_plans)
            batches: list[list[pa.Array]] = []
            _timed(
                "read + canonicalise only (floor)",
                lambda: _read_canonical(connector, schema, batches),
                results,
            )
            _timed(
                "integrity checksum, one side",
                lambda: table_checksum(connector, table="wide", plans=kept, side="source").checksum,
                results,
            )
            _timed("rollback digest (by key)", lambda: rollback_checksum(connector, "wide").checksum, results)
        _timed("digest step only: json.dumps per row", lambda: _per_row(batches), results)
        _timed("digest step only: batch-built", lambda: _batch_built(batches), results)
    print(f"{args.rows} rows x {len(schema.columns)} columns\n")
    print("| step | wall s | CPU s | result |\n|---|---:|---:|---|")
    for label, seconds, cpu, outcome in results:
        print(f"| {label} | {seconds:.2f} | {cpu:.2f} | {outcome} |")


if __name__ == "__main__":
    main()
