"""What the performance monitor asks of each engine: a statement timeout, EXPLAIN, and the server's
own counters. Every statement runs on the connector's read-only connection.

A PostgreSQL or MariaDB/MySQL connector's metadata connection is read-only already
(``default_transaction_read_only`` / ``SET SESSION TRANSACTION READ ONLY``); DuckDB and SQLite files
are opened read-only. DuckDB and SQLite have no statement timeout.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator, Sequence
from typing import Any

from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.perf.params import Bound
from pm_pipeline.core.perf.plans import Plan, parse_duckdb, parse_mysql, parse_postgres, parse_sqlite

POSTGRES, MYSQL, DUCKDB, SQLITE = "postgresql", "mysql", "duckdb", "sqlite"
# Engines whose planner reads a table by index where one serves: a scan there after an index on
# the source is a regression. DuckDB reads columns and scans by design.
INDEXED_ENGINES = frozenset({POSTGRES, MYSQL, SQLITE})


def is_mariadb(connector: Connector) -> bool:
    return connector.engine == MYSQL and connector.server_version().startswith("MariaDB")


@contextlib.contextmanager
def statement_timeout(connector: Connector, timeout: dt.timedelta) -> Iterator[None]:
    """Every statement of the block is cancelled after ``timeout`` where the engine can; the session's
    own setting comes back afterwards. On PostgreSQL the workload's unqualified names resolve in
    the URL's ``schema`` first, as the connector's reads do."""
    ms = max(1, int(timeout.total_seconds() * 1000))
    if connector.engine == POSTGRES:
        schema = str(getattr(connector, "schema", "public"))
        connector.execute(f"SET search_path TO {connector.quote(schema)}, public")
        connector.execute(f"SET statement_timeout = {ms}")
        reset = "RESET statement_timeout; RESET search_path"
    elif connector.engine == MYSQL and is_mariadb(connector):
        connector.execute(f"SET SESSION max_statement_time = {ms / 1000:.3f}")
        reset = "SET SESSION max_statement_time = DEFAULT"
    elif connector.engine == MYSQL:
        connector.execute(f"SET SESSION max_execution_time = {ms}")
        reset = "SET SESSION max_execution_time = DEFAULT"
    else:
        yield
        return
    try:
        yield
    finally:
        connector.execute(reset)


def run(connector: Connector, bound: Bound) -> list[tuple[Any, ...]]:
    """The statement's rows, read through the connector's read-only connection."""
    return connector.execute(bound.sql, bound.params)


def explain(connector: Connector, bound: Bound) -> Plan | None:
    """The statement's plan reduced to :class:`Plan`, or None for an engine without EXPLAIN."""
    if connector.engine == POSTGRES:
        rows = connector.execute(f"EXPLAIN (FORMAT JSON) {bound.sql}", bound.params)
        return parse_postgres(rows[0][0])
    if connector.engine == MYSQL:
        rows = connector.execute(f"EXPLAIN FORMAT=JSON {bound.sql}", bound.params)
        return parse_mysql(json.loads(rows[0][0]))
    if connector.engine == SQLITE:
        rows = connector.execute(f"EXPLAIN QUERY PLAN {bound.sql}", bound.params)
        return parse_sqlite([str(row[-1]) for row in rows])
    if connector.engine == DUCKDB:
        rows = connector.execute(f"EXPLAIN (FORMAT JSON) {bound.sql}", bound.params)
        return parse_duckdb(json.loads(rows[0][-1]))
    return None


def _pg_table_names(connector: Connector, tables: Sequence[str]) -> list[str]:
    return sorted({t.lower() for t in tables} | set(tables))


def counters(connector: Connector, tables: Sequence[str]) -> dict[str, dict[str, int]]:
    """The server's counters that explain a slow query, per table (and ``session`` for MariaDB's
    handler counters): scans by kind, blocks read and hit, rows and sizes. Empty for DuckDB/SQLite."""
    if not tables:
        return {}
    if connector.engine == POSTGRES:
        # This session's counters reach the statistics views when flushed.
        with contextlib.suppress(Exception):
            connector.execute("SELECT pg_stat_force_next_flush()")
        schema = getattr(connector, "schema", "public")
        rows = connector.execute(
            "SELECT s.relname, s.seq_scan, s.seq_tup_read, COALESCE(s.idx_scan, 0), "
            "COALESCE(io.heap_blks_read, 0), COALESCE(io.heap_blks_hit, 0), "
            "COALESCE(io.idx_blks_read, 0), COALESCE(io.idx_blks_hit, 0), "
            "pg_relation_size(s.relid), pg_indexes_size(s.relid) "
            "FROM pg_stat_user_tables s JOIN pg_statio_user_tables io ON io.relid = s.relid "
            "WHERE s.schemaname = %s AND s.relname = ANY(%s) ORDER BY s.relname",
            (schema, _pg_table_names(connector, tables)),
        )
        keys = (
            "seq_scan",
            "seq_tup_read",
            "idx_scan",
            "heap_blks_read",
            "heap_blks_hit",
            "idx_blks_read",
            "idx_blks_hit",
            "table_bytes",
            "index_bytes",
        )
        return {str(row[0]): dict(zip(keys, (int(v or 0) for v in row[1:]), strict=True)) for row in rows}
    if connector.engine == MYSQL:
        schema = getattr(connector, "schema", None)
        placeholders = ", ".join(["%s"] * len(tables))
        rows = connector.execute(
            "SELECT table_name, COALESCE(table_rows, 0), COALESCE(data_length, 0), COALESCE(index_length, 0) "
            f"FROM information_schema.tables WHERE table_schema = %s AND table_name IN ({placeholders}) "
            "ORDER BY table_name",
            (schema, *tables),
        )
        found = {
            str(r[0]): {"rows": int(r[1]), "table_bytes": int(r[2]), "index_bytes": int(r[3])} for r in rows
        }
        handler = connector.execute("SHOW SESSION STATUS LIKE 'Handler_read%'")
        found["session"] = {str(name).lower(): int(value) for name, value in handler}
        return found
    return {}


def counter_deltas(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    """After minus before for the counters that count; sizes and row estimates as they are after."""
    absolute = {"table_bytes", "index_bytes", "rows"}
    return {
        table: {
            key: value if key in absolute else value - before.get(table, {}).get(key, 0)
            for key, value in values.items()
        }
        for table, values in after.items()
    }
