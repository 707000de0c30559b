"""One read-only statement started ahead of time, on a connection of its own, for a later caller.

The generated expectations' profile of a source table (:func:`.profile.profile_sql`) depends on the
table's plan and schema only, yet it used to wait for the reconciliation to end. While the
reconciliation reads a server's rows, that server and this process mostly wait on each other, so
the profile's scan started beside it costs little wall time (MariaDB -> PostgreSQL, 1M rows: a
2 s scan hidden in the read). :class:`EarlyStatement` runs it on a second connection to the same
server and hands its answer to the first caller asking for the very same SQL.

It is a head start, never a second source of truth: a caller asking for other SQL, a second
caller, or any failure of the early run (its connection refused, the statement failing) gets the
statement run again on the run's own connection, whose answer or error is the one that counts.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pm_pipeline.core.connectors import Connector, connect
from pm_pipeline.core.connectors.base import THREAD_SAFE_ENGINES

Rows = list[tuple[Any, ...]]


class EarlyStatement:
    """``sql`` running on a connection of its own to ``connector``'s database since construction;
    :meth:`execute` is ``connector.execute`` that takes the early answer once."""

    def __init__(self, connector: Connector, sql: str) -> None:
        self.connector, self.sql = connector, sql
        self.handed_over = False  # whether a caller got the early answer
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pm-early-statement")
        self._future: Future[Rows] | None = self._pool.submit(self._run)

    @staticmethod
    def may_start(connector: Connector) -> bool:
        """Whether a second connection may run beside the run's reads: a server (an embedded
        engine would share this process's cores and files), and no pace set on the source (its
        owner asked for a gentle load, and a scan beside the read would double it)."""
        limits = connector.read_limits
        paced = limits is not None and limits.rows_per_second is not None
        return connector.engine in THREAD_SAFE_ENGINES and not paced

    def _run(self) -> Rows:
        with connect(self.connector.url.raw, timeouts=self.connector.timeouts) as own:
            if self.connector.read_limits is not None:  # a source's: it refuses to write too
                own.protect_as_source(self.connector.read_limits, release=contextlib.ExitStack())
            return own.execute(self.sql)

    def execute(self, sql: str, params: Any = ()) -> Rows:
        """The early answer if ``sql`` is the statement started and no caller took it yet, else
        (or if the early run failed) ``sql`` run now on the connector's own connection."""
        with self._lock:
            future = self._future if sql == self.sql and not params else None
            if future is not None:
                self._future = None
        if future is not None:
            with contextlib.suppress(Exception):  # run again below: that answer or error counts
                rows = future.result()
                self.handed_over = True
                return rows
        return self.connector.execute(sql, params)

    def finished(self) -> bool:
        """Whether the early run has ended (its answer or failure waits for a caller), or was taken."""
        with self._lock:
            return self._future is None or self._future.done()

    def close(self) -> None:
        """Wait for the early run (bounded by the connector's timeouts) and let its connection go."""
        with self._lock:
            self._future = None
        self._pool.shutdown(wait=True)

    def __enter__(self) -> EarlyStatement:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
