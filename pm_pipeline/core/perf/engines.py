"""What the performance monitor asks of each engine: a statement timeout, EXPLAIN, and the server's
own counters. Every statement runs on the connector's read-only connection.

A PostgreSQL or MariaDB/MySQL connector's metadata connection is read-only already
(``default_transaction_read_only`` / ``SET SESSION TRANSACTION READ ONLY``); DuckDB and SQLite files
are opened read-only. DuckDB and SQLite have no statement timeout.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.perf.params import Bound
from pm_pipeline.core.perf.plans import Plan, plan_reader


@contextlib.contextmanager
def statement_timeout(connector: Connector, timeout: dt.timedelta) -> Iterator[None]:
    """Every statement of the block is cancelled after ``timeout`` where the engine can; the session's
    own setting comes back afterwards. On PostgreSQL the workload's unqualified names resolve in
    the URL's ``schema`` first, as the connector's reads do."""
    ms = max(1, int(timeout.total_seconds() * 1000))
    statements = connector.dialect.statement_timeout(
        ms, schema=getattr(connector, "schema", None), server_version=connector.server_version()
    )
    if statements is None:
        yield
        return
    setting, reset = statements
    for statement in setting:
        connector.execute(statement)
    try:
        yield
    finally:
        connector.execute(reset)


def run(connector: Connector, bound: Bound) -> list[tuple[Any, ...]]:
    """The statement's rows, read through the connector's read-only connection."""
    return connector.execute(bound.sql, bound.params)


def explain(connector: Connector, bound: Bound) -> Plan | None:
    """The statement's plan reduced to :class:`Plan`, or None for an engine without EXPLAIN."""
    reader = plan_reader(connector.dialect)
    if reader is None:
        return None
    return reader(connector.execute(connector.dialect.explain(bound.sql), bound.params))


def counters(connector: Connector, tables: Sequence[str]) -> dict[str, dict[str, int]]:
    """The server's counters that explain a slow query, per table (and ``session`` for the session's
    own, MariaDB's handler counters): scans by kind, blocks read and hit, rows and sizes. Empty
    where the server keeps none (DuckDB, SQLite)."""
    if not tables:
        return {}
    dialect = connector.dialect
    query = dialect.table_counters(schema=getattr(connector, "schema", None), tables=tuple(tables))
    if query is None:
        return {}
    if dialect.counters_flush:
        with contextlib.suppress(Exception):
            connector.execute(dialect.counters_flush)
    rows = connector.execute(*query)
    keys = dialect.table_counter_keys
    found = {str(row[0]): dict(zip(keys, (int(v or 0) for v in row[1:]), strict=True)) for row in rows}
    if dialect.session_counters:
        session = connector.execute(dialect.session_counters)
        found["session"] = {str(name).lower(): int(value) for name, value in session}
    return found


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
