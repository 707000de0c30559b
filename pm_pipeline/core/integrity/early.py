"""One read-only statement started ahead of time, on a connection of its own, for a later caller.

The generated expectations' profile of a source table (:func:`.profile.profile_sql`) depends on the
table's plan and schema only, yet it used to wait for the reconciliation to end. While the
reconciliation reads a server's rows, that server and this process mostly wait on each other, so
the profile's scan started beside it costs little wall time (MariaDB -> PostgreSQL, 1M rows: a
2 s scan hidden in the read). :class:`EarlyStatement` runs it on a second connection to the same
server and hands its answer to the first caller asking for the very same SQL.

It is a head start, never a second source of truth: a caller asking for other SQL, a second
caller, or a failure of the early run (its connection refused, the statement failing) gets the
statement run again on the run's own connection, whose answer or error is the one that counts.
Only a server that answered nothing within its timeout is not asked again: that failure stands.
Closed before its answer was taken (the run failed or was interrupted), the early statement is
cancelled on the server (or, closed while still connecting, never started) and abandoned, never
waited for.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future
from typing import Any, Protocol

from pm_pipeline.core.connectors import Connector, connect
from pm_pipeline.core.connectors.base import THREAD_SAFE_ENGINES, NoAnswerFailure

Rows = list[tuple[Any, ...]]


class HeadStart(Protocol):
    """A statement's answer obtained ahead of its caller (:class:`EarlyStatement`, or measured on
    the reconciliation's read: :class:`.read_profile.ReadProfile`): ``execute`` is the connector's,
    handing that answer over once; ``close`` lets it go."""

    handed_over: bool

    def execute(self, sql: str, params: Any = ()) -> Rows: ...

    def close(self) -> None: ...


class EarlyStatement:
    """``sql`` running on a connection of its own to ``connector``'s database since construction;
    :meth:`execute` is ``connector.execute`` that takes the early answer once."""

    def __init__(self, connector: Connector, sql: str) -> None:
        self.connector, self.sql = connector, sql
        self.handed_over = False  # whether a caller got the early answer
        self._lock = threading.Lock()
        self._own: Connector | None = None  # the early run's connector, while it runs
        self._closed = False
        self._future: Future[Rows] | None = Future()
        # A daemon thread: a run that ends before taking the answer never waits for it.
        threading.Thread(
            target=self._run, args=(self._future,), name="pm-early-statement", daemon=True
        ).start()

    @staticmethod
    def may_start(connector: Connector) -> bool:
        """Whether a second connection may run beside the run's reads: a server (an embedded
        engine would share this process's cores and files), and no pace set on the source (its
        owner asked for a gentle load, and a scan beside the read would double it)."""
        limits = connector.read_limits
        paced = limits is not None and limits.rows_per_second is not None
        return connector.engine in THREAD_SAFE_ENGINES and not paced

    def _run(self, future: Future[Rows]) -> None:
        try:
            with connect(self.connector.url.raw, timeouts=self.connector.timeouts) as own:
                if self.connector.read_limits is not None:  # a source's: it refuses to write too
                    own.protect_as_source(self.connector.read_limits, release=contextlib.ExitStack())
                with self._lock:
                    if self._closed:  # closed while connecting: the statement never starts
                        raise RuntimeError("closed before the early statement started")
                    self._own = own
                try:
                    rows = own.execute(self.sql)
                finally:
                    with self._lock:
                        self._own = None
        except BaseException as exc:  # handed to the caller, which runs the statement again
            future.set_exception(exc)
        else:
            future.set_result(rows)

    def execute(self, sql: str, params: Any = ()) -> Rows:
        """The early answer if ``sql`` is the statement started and no caller took it yet, else
        (or if the early run failed) ``sql`` run now on the connector's own connection."""
        with self._lock:
            future = self._future if sql == self.sql and not params else None
            if future is not None:
                self._future = None
        if future is not None:
            failure = future.exception()
            if failure is None:
                self.handed_over = True
                return future.result()
            if isinstance(failure, NoAnswerFailure):
                raise failure  # the server answered nothing in time: asking again would wait as long
        return self.connector.execute(sql, params)  # any other failure: this answer or error counts

    def finished(self) -> bool:
        """Whether the early run has ended (its answer or failure waits for a caller), or was taken."""
        with self._lock:
            return self._future is None or self._future.done()

    def close(self) -> None:
        """Let the early run go: if it still runs, its statement is cancelled on the server (on a
        thread of its own: a frozen server may not answer the cancel either), never waited for."""
        with self._lock:
            self._future = None
            self._closed = True
            running = self._own
        if running is not None:
            threading.Thread(target=running.interrupt, name="pm-early-cancel", daemon=True).start()

    def __enter__(self) -> EarlyStatement:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
