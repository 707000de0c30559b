# Over 300 lines: the one contract every engine's connector fulfils, with the defaults they share.
"""The one protocol every engine implements, and helpers shared by SQL engines.

A connector reads. Writes happen only through :meth:`Connector.transaction`, which the rollback
feature uses after a verified backup; everything else is read-only.
"""

from __future__ import annotations

import abc
import contextlib
import queue
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import pyarrow as pa

from pm_pipeline.core.config.protection import ReadLimits
from pm_pipeline.core.config.timeouts import DEFAULT_TIMEOUTS as DEFAULT_TIMEOUTS
from pm_pipeline.core.config.timeouts import Timeouts as Timeouts
from pm_pipeline.core.connectors.limits import paced
from pm_pipeline.core.connectors.schema import Column, TableSchema
from pm_pipeline.core.connectors.watchdog import watchdog as watchdog
from pm_pipeline.core.dialects.base import Dialect
from pm_pipeline.core.errors import BadInputError, ConnectionFailure, SystemFailure
from pm_pipeline.core.security.masking import mask_url

DEFAULT_BATCH_ROWS = 100_000
# Engines whose connectors may be used from another thread (one at a time): not sqlite3's or DuckDB's.
THREAD_SAFE_ENGINES = frozenset({"postgresql", "mysql"})


def no_answer(where: str, seconds: float | None, sql: str) -> NoAnswerFailure:
    """The failure of a database that answered nothing within ``seconds``, naming it and the table."""
    table = query_table(sql)
    on = f" to the query on table {table}" if table else ""
    return NoAnswerFailure(f"{where}: no answer{on} within {seconds:g} s; the server is stuck or unreachable")


def statement_too_long(where: str, seconds: float | None, sql: str) -> SystemFailure:
    """The failure of an embedded engine's statement interrupted after ``seconds`` (like a server's
    statement timeout: the engine still answers)."""
    table = query_table(sql)
    on = f" on table {table}" if table else ""
    return SystemFailure(
        f"{where}: the query{on} ran longer than {seconds or 0:g} s and was interrupted (timeouts.statement)"
    )


class NoAnswerFailure(ConnectionFailure):
    """A database answered nothing within its timeout: the run ends (exit 3)."""


@dataclass(frozen=True)
class ConnectionUrl:
    """A parsed connection URL. ``str()`` and ``masked`` never show the password."""

    raw: str
    scheme: str
    user: str | None
    password: str | None
    host: str | None
    port: int | None
    database: str | None
    path: str | None  # for file engines: the file or directory
    query: dict[str, str]

    @property
    def masked(self) -> str:
        return mask_url(self.raw)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"ConnectionUrl({self.masked!r})"


def parse_url(url: str) -> ConnectionUrl:
    """Split a connection URL. File engines follow SQLAlchemy's form: ``sqlite:///rel.db``, ``sqlite:////abs.db``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        # The parser's own reason quotes the piece it choked on: part of a password, often.
        reason = "the port is outside 0-65535" if "range" in str(exc) else "its host or port cannot be read"
        raise BadInputError(
            f"connection URL {mask_url(url)} is malformed: {reason} (percent-encode a password that "
            "holds @ : / ? or #)"
        ) from None
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    password = unquote(parts.password) if parts.password is not None else None
    if "password" in query:  # libpq's ?password=: every connector reads the password from one place
        if password is not None:
            raise BadInputError(f"connection URL {mask_url(url)} gives a password twice: keep one")
        password = query.pop("password")
    scheme = parts.scheme.lower()
    path: str | None = None
    database: str | None = None
    if parts.netloc == "" and url.startswith(f"{parts.scheme}:///"):
        path = unquote(url[len(parts.scheme) + 4 :].split("?", 1)[0])
    elif parts.netloc == "" and url.startswith(f"{parts.scheme}://"):
        path = None
    else:
        database = unquote(parts.path.lstrip("/")) or None
    return ConnectionUrl(
        raw=url,
        scheme=scheme,
        user=unquote(parts.username) if parts.username else None,
        password=password,
        host=parts.hostname,
        port=port,
        database=database,
        path=path,
        query=query,
    )


class Connector(abc.ABC):
    """A connection to one database (or a folder of files), able to introspect, stream and push down.

    Subclasses set ``engine`` and implement the abstract methods. Identifiers are always quoted with
    :meth:`quote`; values are always passed as parameters in the engine's ``paramstyle`` placeholder.
    """

    engine: str = ""
    placeholder: str = "?"
    dialect: Dialect = Dialect()  # each engine's connector sets its own
    # The driver reads ahead without bound when its consumer is slower, and the engine reads a
    # primary-key range in key order at no extra cost: large tables are then read range by range.
    reads_key_ranges: bool = False
    fetch_chunk: int = 500  # keys per query of fetch_by_keys
    # Set on a source's connector (open_endpoint): streams paced, writes refused, a reader slot held.
    read_limits: ReadLimits | None = None
    _release: contextlib.ExitStack | None = None

    def __init__(self, url: ConnectionUrl, *, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> None:
        self.url = url
        self.timeouts = timeouts

    def protect_as_source(self, limits: ReadLimits, *, release: contextlib.ExitStack) -> None:
        """Make this the source's connector: its streams keep ``limits``' pace, it refuses to
        write, and ``release`` (its reader slot) is let go when the connector is closed."""
        self.read_limits = limits
        self._release = release

    def refuse_writes_on_source(self) -> None:
        if self.read_limits is not None:
            raise BadInputError(f"{self.describe()} is the migration's source: it is only ever read")

    def paced(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """``batches`` at the source's ``max_rows_per_second``, if it has one."""
        rate = self.read_limits.rows_per_second if self.read_limits is not None else None
        return batches if rate is None else paced(batches, rate)

    # -- lifecycle ---------------------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        finally:
            if self._release is not None:
                self._release.close()

    # -- metadata ----------------------------------------------------------------------------
    @abc.abstractmethod
    def server_version(self) -> str:
        """The engine's name and version, e.g. 'PostgreSQL 15.19'."""

    @abc.abstractmethod
    def list_tables(self) -> list[str]:
        """Base tables (not views) in the connected schema, sorted by name."""

    def foreign_keys_into(self, tables: Sequence[str]) -> list[tuple[str, str, str]]:
        """Foreign keys of other tables that reference one of ``tables``: (referencing table, key
        name or its columns, referenced table). Tables of another schema are schema-qualified.
        This default introspects every table; server engines ask their catalog once."""
        inside = {name.lower() for name in tables}
        return [
            (name, fk.name or ", ".join(fk.columns), fk.ref_table)
            for name in self.list_tables()
            if name.lower() not in inside
            for fk in self.introspect(name).foreign_keys
            if fk.ref_table.rsplit(".", 1)[-1].lower() in inside
        ]

    @abc.abstractmethod
    def introspect(self, table: str) -> TableSchema:
        """Columns, keys, constraints, indexes and sequences. Raises TableNotFoundError."""

    def row_count(self, table: str) -> int:
        rows = self.execute(f"SELECT COUNT(*) FROM {self.qualified(table)}")
        return int(rows[0][0])

    def estimate_rows(self, table: str) -> int | None:
        """A cheap estimate of the table's row count (for progress and ETAs): the engine's statistics,
        or an exact count where counting is cheap. None when the engine cannot tell cheaply."""
        return None

    # -- reading -----------------------------------------------------------------------------
    @abc.abstractmethod
    def stream_query(
        self, sql: str, params: Sequence[Any] = (), *, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> Iterator[pa.RecordBatch]:
        """Run a query and yield its result as Arrow record batches, holding at most a few batches."""

    def select_expression(self, column: Column) -> str:
        """The SQL that reads ``column`` faithfully. Engines override it where the driver would lose
        information (exact decimals, zero dates): a column may come back as its text rendering, which
        canonicalisation parses according to the column's family."""
        return self.dialect.select_expression(column)

    def compact_expression(self, column: Column) -> str:
        """The SQL that reads ``column`` for hashing only: it canonicalises to the same values as
        ``select_expression`` but may be cheaper to render; it is never shown to anyone."""
        return self.select_expression(column)

    def stream_table(
        self,
        table: str,
        *,
        schema: TableSchema | None = None,
        columns: Sequence[str] | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> Iterator[pa.RecordBatch]:
        """Stream a table's columns (all by default) as Arrow batches, each column under its own name."""
        schema = schema or self.introspect(table)
        wanted = [schema.column(name) for name in (columns or schema.column_names)]
        select = ", ".join(f"{self.select_expression(col)} AS {self.quote(col.name)}" for col in wanted)
        return self.stream_columns(
            f"SELECT {select} FROM {self.qualified(table)}",
            (),
            table=table,
            columns=wanted,
            batch_rows=batch_rows,
        )

    def stream_columns(
        self,
        sql: str,
        params: Sequence[Any],
        *,
        table: str,
        columns: Sequence[Column],
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> Iterator[pa.RecordBatch]:
        """Stream a query selecting ``columns`` of ``table`` (in order, each under its own name).
        Engines whose reader needs the declared types override it; by default, :meth:`stream_query`."""
        return self.stream_query(sql, params, batch_rows=batch_rows)

    def query_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        batches = list(self.stream_query(sql, params))
        if not batches:
            return self._empty_result(sql, params)
        return pa.Table.from_batches(batches)

    def _empty_result(self, sql: str, params: Sequence[Any]) -> pa.Table:
        return pa.table({})

    def fetch_by_keys(
        self,
        table: str,
        *,
        schema: TableSchema,
        key_columns: Sequence[str],
        keys: Sequence[tuple[Any, ...]],
        columns: Sequence[str] | None = None,
        chunk: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Yield the rows whose key is in ``keys`` (raw key values as read), ``chunk`` keys per query
        (the engine's ``fetch_chunk`` by default); :meth:`key_condition` selects them."""
        wanted = [schema.column(name) for name in (columns or schema.column_names)]
        select = ", ".join(f"{self.select_expression(col)} AS {self.quote(col.name)}" for col in wanted)
        key_cols = [schema.column(name) for name in key_columns]
        size = max(1, chunk or self.fetch_chunk)
        for start in range(0, len(keys), size):
            condition, params = self.key_condition(key_cols, keys[start : start + size])
            yield from self.stream_columns(
                f"SELECT {select} FROM {self.qualified(table)} WHERE {condition}",
                params,
                table=table,
                columns=wanted,
            )

    def key_condition(
        self, key_columns: Sequence[Column], keys: Sequence[tuple[Any, ...]]
    ) -> tuple[str, list[Any]]:
        """A WHERE condition true for the rows whose key is one of ``keys``, and its parameters.
        By default an IN list of placeholders (of row values for a composite key)."""
        quoted = [self.quote(col.name) for col in key_columns]
        if len(quoted) == 1:
            return f"{quoted[0]} IN ({', '.join([self.placeholder] * len(keys))})", [key[0] for key in keys]
        row = "(" + ", ".join([self.placeholder] * len(quoted)) + ")"
        condition = f"({', '.join(quoted)}) IN ({', '.join([row] * len(keys))})"
        return condition, [value for key in keys for value in key]

    # -- pushdown ----------------------------------------------------------------------------
    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read statement and return all its rows (for small pushdown results)."""

    def interrupt(self) -> None:
        """Cancel, from another thread, the statement this connector's own connection is running
        (it then fails in its thread); best effort, and nothing where the engine cannot."""
        return None

    def answers(self) -> bool:
        """Whether the database still runs a trivial query (after an error: is it gone?)."""
        try:
            self.execute("SELECT 1")
        except Exception:  # any failure of the probe means the server is gone
            return False
        return True

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """A write transaction (rollback feature only). Yields an object with ``execute(sql, params)``."""
        raise NotImplementedError(f"{self.engine} connector does not support writes")
        yield  # pragma: no cover

    def quote(self, identifier: str) -> str:
        return self.dialect.quote(identifier)

    def hash_aggregation(self) -> contextlib.AbstractContextManager[None]:
        """Grouped queries read inside the block have few groups over many rows: they aggregate in
        memory, where the engine would otherwise sort every row (nothing to change here)."""
        return contextlib.nullcontext()

    def qualified(self, table: str) -> str:
        """The quoted, schema-qualified name of a table."""
        return self.quote(table)

    def describe(self) -> str:
        return f"{self.engine} at {self.url.masked}"


def write_failure(where: str, statement: str, exc: BaseException) -> SystemFailure:
    """A driver error inside a write transaction, as a failure naming the database and statement."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = lines[0] if lines else type(exc).__name__
    shown = " ".join(statement.split())
    shown = shown if len(shown) <= 160 else shown[:157] + "..."
    return SystemFailure(f"{where}: write transaction failed: {reason} [statement: {shown}]")


_NAME = r"""(?:"(?:[^"]|"")+"|`(?:[^`]|``)+`|[A-Za-z_][\w$]*)"""
_FROM_TABLE = re.compile(rf"\bFROM\s+({_NAME}(?:\s*\.\s*{_NAME})?)", re.IGNORECASE)
# The server's message inside a connectorx panic: PostgreSQL's DbError, MySQL's "ERROR code (state): ...".
_DRIVER_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"|ERROR \d+ \([0-9A-Z]+\): (.*?)\s*\}')


def query_table(sql: str) -> str | None:
    """The table a query reads (``FROM name``) as written, or None. A schema-qualified name wins:
    server connectors qualify their tables, and ``extract(epoch FROM col)`` names a column."""
    names = [found.group(1) for found in _FROM_TABLE.finditer(sql)]
    qualified = [name for name in names if re.fullmatch(rf"{_NAME}\s*\.\s*{_NAME}", name)]
    return (qualified or names or [None])[0]


def driver_panic(where: str, sql: str, exc: BaseException, *, secret: str | None = None) -> SystemFailure:
    """A panic inside a native driver (connectorx raises pyo3's PanicException, a BaseException
    that ``except Exception`` misses) as a failure naming the database, the table and the cause."""
    text = str(exc).replace(secret, "***") if secret else str(exc)
    found = _DRIVER_MESSAGE.search(text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = (found.group(1) or found.group(2)) if found else (lines[0] if lines else type(exc).__name__)
    reason = reason if len(reason) <= 300 else reason[:297] + "..."
    table = query_table(sql)
    return SystemFailure(f"{where}: the query {f'on table {table} ' if table else ''}failed: {reason}")


def is_interruption(exc: BaseException) -> bool:
    """Whether an exception must go through untouched: the generator closing, Ctrl-C, exit."""
    return isinstance(exc, (GeneratorExit, KeyboardInterrupt, SystemExit))


@contextlib.contextmanager
def reading_errors(
    where: str, sql: str, query_error: Callable[[Exception], Exception], *, secret: str | None = None
) -> Iterator[None]:
    """Errors while reading through a native driver: driver errors as ``query_error`` maps them, a
    panic (pyo3's PanicException, a BaseException) as a SystemFailure naming the table, and
    interruptions (the generator closing, Ctrl-C, exit) unchanged."""
    try:
        yield
    except BaseException as exc:
        if is_interruption(exc):
            raise
        if isinstance(exc, Exception):
            raise query_error(exc) from None
        raise driver_panic(where, sql, exc, secret=secret) from None


_T = TypeVar("_T")
_DONE = object()


@dataclass(frozen=True)
class _Raised:
    error: BaseException


def read_ahead(
    items: Iterator[_T],
    depth: int,
    *,
    first_wait: float | None = None,
    next_wait: float | None = None,
    stuck: Callable[[float], Exception] | None = None,
) -> Iterator[_T]:
    """``items``, produced by a thread of its own at most ``depth`` items ahead of the caller.

    A driver that decodes in the calling thread (the GIL released) then decodes the next batch
    while the caller works on this one, and its server keeps sending. An error raised by
    ``items`` is raised here; closing this iterator stops the thread, which closes ``items``.

    With ``first_wait`` (the first item) and ``next_wait`` (each next one), a producer that hands
    over nothing for that long raises ``stuck(seconds)`` here: a driver blocked on a frozen server
    cannot be woken, so its thread (a daemon) is left behind with its connection."""
    handoff: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the caller, who raises it
            offer(_Raised(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="pm-read-ahead", daemon=True)
    worker.start()
    wait, abandoned = first_wait, False
    try:
        while True:
            try:
                item = handoff.get(timeout=wait)
            except queue.Empty:
                abandoned = True
                raise (stuck or TimeoutError)(wait or 0.0) from None
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.error
            wait = next_wait
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        if not abandoned:
            worker.join()
