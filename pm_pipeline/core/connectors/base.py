"""The one protocol every engine implements, and helpers shared by SQL engines.

A connector reads. Writes happen only through :meth:`Connector.transaction`, which the rollback
feature uses after a verified backup; everything else is read-only.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pyarrow as pa

from pm_pipeline.core.connectors.schema import Column, TableSchema
from pm_pipeline.core.errors import BadInputError

DEFAULT_BATCH_ROWS = 100_000


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


def mask_url(url: str) -> str:
    """Replace the password of a URL with ***; leave everything else readable."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    netloc = parts.netloc
    userinfo, _, hostinfo = netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return parts._replace(netloc=f"{user}:***@{hostinfo}").geturl()


def parse_url(url: str) -> ConnectionUrl:
    """Split a connection URL. File engines follow SQLAlchemy's form: ``sqlite:///rel.db``, ``sqlite:////abs.db``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadInputError(f"connection URL {mask_url(url)} is malformed: {exc}") from None
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
        password=unquote(parts.password) if parts.password is not None else None,
        host=parts.hostname,
        port=port,
        database=database,
        path=path,
        query={key: values[-1] for key, values in parse_qs(parts.query).items()},
    )


class Connector(abc.ABC):
    """A connection to one database (or a folder of files), able to introspect, stream and push down.

    Subclasses set ``engine`` and implement the abstract methods. Identifiers are always quoted with
    :meth:`quote`; values are always passed as parameters in the engine's ``paramstyle`` placeholder.
    """

    engine: str = ""
    placeholder: str = "?"

    def __init__(self, url: ConnectionUrl) -> None:
        self.url = url

    # -- lifecycle ---------------------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- metadata ----------------------------------------------------------------------------
    @abc.abstractmethod
    def server_version(self) -> str:
        """The engine's name and version, e.g. 'PostgreSQL 15.19'."""

    @abc.abstractmethod
    def list_tables(self) -> list[str]:
        """Base tables (not views) in the connected schema, sorted by name."""

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
        return self.quote(column.name)

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
        return self.stream_query(f"SELECT {select} FROM {self.qualified(table)}", batch_rows=batch_rows)

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
        chunk: int = 500,
    ) -> Iterator[pa.RecordBatch]:
        """Yield the rows whose key is in ``keys`` (raw key values as read), ``chunk`` keys per query."""
        wanted = [schema.column(name) for name in (columns or schema.column_names)]
        select = ", ".join(f"{self.select_expression(col)} AS {self.quote(col.name)}" for col in wanted)
        quoted_keys = [self.quote(name) for name in key_columns]
        for start in range(0, len(keys), chunk):
            part = keys[start : start + chunk]
            if len(key_columns) == 1:
                condition = f"{quoted_keys[0]} IN ({', '.join([self.placeholder] * len(part))})"
                params: list[Any] = [key[0] for key in part]
            else:
                row = "(" + ", ".join([self.placeholder] * len(key_columns)) + ")"
                condition = f"({', '.join(quoted_keys)}) IN ({', '.join([row] * len(part))})"
                params = [value for key in part for value in key]
            yield from self.stream_query(
                f"SELECT {select} FROM {self.qualified(table)} WHERE {condition}", params
            )

    # -- pushdown ----------------------------------------------------------------------------
    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read statement and return all its rows (for small pushdown results)."""

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """A write transaction (rollback feature only). Yields an object with ``execute(sql, params)``."""
        raise NotImplementedError(f"{self.engine} connector does not support writes")
        yield  # pragma: no cover

    def quote(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'

    def qualified(self, table: str) -> str:
        """The quoted, schema-qualified name of a table."""
        return self.quote(table)

    def describe(self) -> str:
        return f"{self.engine} at {self.url.masked}"
