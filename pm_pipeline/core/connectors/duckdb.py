# Over 300 lines: one engine's whole connector (connection, introspection, type families, Arrow reads, timeouts) in one place, as every engine has it.
"""DuckDB connector (``duckdb:///rel.duckdb``, ``duckdb:////abs.duckdb``, ``duckdb:///:memory:``).

A database file is opened read-only and never created; a write connection is opened only inside
:meth:`DuckDbConnector.transaction`. Extensions are never downloaded (auto-install and auto-load
are off), the session time zone is UTC so TIMESTAMPTZ values arrive as UTC instants, and results
stream as Arrow record batches of at most ``batch_rows`` rows. Select ``?schema=name`` in the URL
to read a schema other than ``main``.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import dataclasses
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pm_pipeline.core.connectors.base import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_TIMEOUTS,
    ConnectionUrl,
    Connector,
    Timeouts,
    statement_too_long,
    watchdog,
    write_failure,
)
from pm_pipeline.core.connectors.schema import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    TableSchema,
    TypeFamily,
    UniqueConstraint,
)
from pm_pipeline.core.connectors.schema import (
    Sequence as SequenceInfo,
)
from pm_pipeline.core.dialects.duckdb import DuckDbDialect
from pm_pipeline.core.errors import BadInputError, ConnectionFailure, SystemFailure, TableNotFoundError

_NO_DOWNLOADS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
# A source or target scanned in-process shares our memory: keep its buffers small (scans stream).
_MEMORY_LIMIT = "128MB"
_SPILL_DIRECTORIES: dict[str, str] = {}


def _spill_directory(database: str | None) -> str:
    """The process's spill directory for ``database`` (a resolved file path; None: a fresh one)."""
    if database is not None and database in _SPILL_DIRECTORIES:
        return _SPILL_DIRECTORIES[database]
    if not _SPILL_DIRECTORIES:
        atexit.register(_remove_spill_directories)
    directory = tempfile.mkdtemp(prefix="pm-duckdb-spill-")
    _SPILL_DIRECTORIES[database or directory] = directory
    return directory


def _remove_spill_directories() -> None:
    for directory in _SPILL_DIRECTORIES.values():
        shutil.rmtree(directory, ignore_errors=True)
    _SPILL_DIRECTORIES.clear()


_NEXTVAL = re.compile(r"""^nextval\('((?:[^']|'')+)'\)$""", re.IGNORECASE)
_TIMESTAMP_DIGITS = {"TIMESTAMP": 6, "TIMESTAMP_S": 0, "TIMESTAMP_MS": 3, "TIMESTAMP_NS": 9}
_SIMPLE_FAMILIES = {
    "BOOLEAN": TypeFamily.BOOLEAN,
    "VARCHAR": TypeFamily.TEXT,
    "BLOB": TypeFamily.BINARY,
    "DATE": TypeFamily.DATE,
    "TIME": TypeFamily.TIME,
    "TIME WITH TIME ZONE": TypeFamily.TIME,
    "TIMESTAMP WITH TIME ZONE": TypeFamily.TIMESTAMPTZ,
    "INTERVAL": TypeFamily.INTERVAL,
    "JSON": TypeFamily.JSON,
    "UUID": TypeFamily.UUID,
    "FLOAT": TypeFamily.FLOAT,
    "REAL": TypeFamily.FLOAT,
    "DOUBLE": TypeFamily.FLOAT,
}
_INTEGER_BITS = {"TINYINT": 8, "SMALLINT": 16, "INTEGER": 32, "BIGINT": 64, "HUGEINT": 128}


def duckdb_column(
    name: str,
    data_type: str,
    *,
    nullable: bool = True,
    default: str | None = None,
    length: int | None = None,
) -> Column:
    """A Column from DuckDB's spelling of a type (shared with the files connector)."""
    upper = data_type.upper()
    precision: int | None = None
    scale: int | None = None
    unsigned = False
    enum_values: tuple[str, ...] | None = None
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", upper)
    if decimal:
        family, precision, scale = TypeFamily.DECIMAL, int(decimal[1]), int(decimal[2])
    elif upper in _INTEGER_BITS or (upper.startswith("U") and upper[1:] in _INTEGER_BITS):
        unsigned = upper not in _INTEGER_BITS
        family, precision = TypeFamily.INTEGER, _INTEGER_BITS[upper[1:] if unsigned else upper]
    elif upper in _TIMESTAMP_DIGITS:
        family, precision = TypeFamily.TIMESTAMP, _TIMESTAMP_DIGITS[upper]
    elif upper.startswith("ENUM("):
        family = TypeFamily.ENUM
        enum_values = tuple(ast.literal_eval("(" + data_type[5:-1] + ",)"))
    else:
        family = _SIMPLE_FAMILIES.get(upper, TypeFamily.OTHER)
    if family is TypeFamily.TIMESTAMPTZ:
        precision = 6
    return Column(
        name=name,
        data_type=data_type,
        family=family,
        nullable=nullable,
        default=default,
        length=length,
        precision=precision,
        scale=scale,
        unsigned=unsigned,
        enum_values=enum_values,
        identity=bool(default and _NEXTVAL.match(default)),
        element=_list_element(name, data_type),
    )


_LIST_TYPE = re.compile(r"^(.+)\[\d*\]$", re.DOTALL)


def _list_element(name: str, data_type: str) -> Column | None:
    """The element of a LIST (``INTEGER[]``) or ARRAY (``INTEGER[3]``) column; None for other types
    and for lists of lists, which stay OTHER."""
    match = _LIST_TYPE.match(data_type.strip())
    if match is None:
        return None
    element = duckdb_column(name, match[1])
    return None if element.element is not None else element


_INDEX_ITEM = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^,\[\]\s][^,\[\]]*""")


def _index_columns(expressions: str) -> tuple[str, ...]:
    # duckdb_indexes() renders a list whose items are bare names ('[a, b]') or, when the name needs
    # quoting, Python string literals of the quoted SQL ("['\"my col\"', '(a + 1)']").
    names = []
    for item in _INDEX_ITEM.findall(expressions):
        text = str(ast.literal_eval(item)) if item[0] in "'\"" else item.strip()
        if len(text) > 1 and text[0] == text[-1] == '"':
            text = text[1:-1].replace('""', '"')
        names.append(text)
    return tuple(names)


class DuckDbConnector(Connector):
    engine = "duckdb"
    dialect = DuckDbDialect()
    fetch_chunk = 100_000  # list parameters: a semi join reads the table once per query
    # Past its memory limit, a large aggregate spills to a temporary directory instead of failing
    # (read-only files too). DuckDB shares one database instance per file within a process and
    # refuses a second connection with a different configuration, so every connector on one file
    # uses the same directory; an in-memory database has its own. All are removed at exit.
    _spill: str | None = None

    def __init__(self, url: ConnectionUrl, *, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> None:
        super().__init__(url, timeouts=timeouts)
        self.schema_name = url.query.get("schema", "main")
        if not url.path:
            raise BadInputError(
                f"connection URL {url.masked}: expected duckdb:///file.duckdb or duckdb:///:memory:"
            )
        self.path = url.path
        if self.path != ":memory:":
            file = Path(self.path)
            if not file.is_file():
                what = "is a directory, not" if file.is_dir() else "does not exist; expected"
                raise BadInputError(
                    f"DuckDB database {file} {what} an existing database file (sources are never created)"
                )
        self._conn: duckdb.DuckDBPyConnection | None = None

    # -- connections -------------------------------------------------------------------------
    def _open(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        try:
            conn = duckdb.connect(
                self.path,
                read_only=read_only,
                config={
                    **_NO_DOWNLOADS,
                    "memory_limit": _MEMORY_LIMIT,
                    "temp_directory": self._spill_directory(),
                },
            )
            conn.execute("SET TimeZone = 'UTC'")
        except duckdb.Error as exc:
            raise ConnectionFailure(f"cannot open DuckDB database {self.path}: {exc}") from exc
        return conn

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            self._conn = self._open(read_only=self.path != ":memory:")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _spill_directory(self) -> str:
        if self._spill is None:
            self._spill = _spill_directory(
                None if self.path == ":memory:" else str(Path(self.path).resolve())
            )
        return self._spill

    # -- metadata ----------------------------------------------------------------------------
    def server_version(self) -> str:
        return f"DuckDB {duckdb.__version__}"

    def list_tables(self) -> list[str]:
        rows = self.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = ? ORDER BY table_name",
            [self.schema_name],
        )
        return [str(row[0]) for row in rows]

    def _where(self) -> str:
        return "database_name = current_database() AND schema_name = ? AND table_name = ?"

    def introspect(self, table: str) -> TableSchema:
        key = [self.schema_name, table]
        if not self.execute(f"SELECT 1 FROM duckdb_tables() WHERE {self._where()}", key):
            raise TableNotFoundError(
                f"table {table!r} not found in schema {self.schema_name!r} of {self.describe()}"
            )
        columns = tuple(
            duckdb_column(str(name), str(data_type), nullable=bool(nullable), default=default, length=length)
            for name, data_type, nullable, default, length in self.execute(
                "SELECT column_name, data_type, is_nullable, column_default, character_maximum_length "
                f"FROM duckdb_columns() WHERE {self._where()} ORDER BY column_index",
                key,
            )
        )
        primary: tuple[str, ...] = ()
        uniques: list[UniqueConstraint] = []
        foreign: list[ForeignKey] = []
        checks: list[CheckConstraint] = []
        for kind, name, cols, expression, ref_table, ref_cols in self.execute(
            "SELECT constraint_type, constraint_name, constraint_column_names, expression, "
            f"referenced_table, referenced_column_names FROM duckdb_constraints() WHERE {self._where()} "
            "ORDER BY constraint_index",
            key,
        ):
            if kind == "PRIMARY KEY":
                primary = tuple(cols)
            elif kind == "UNIQUE":
                uniques.append(UniqueConstraint(name=name, columns=tuple(cols)))
            elif kind == "FOREIGN KEY":
                foreign.append(ForeignKey(name, tuple(cols), str(ref_table), tuple(ref_cols)))
            elif kind == "CHECK":
                checks.append(CheckConstraint(name=name, expression=str(expression)))
        if primary:
            columns = tuple(
                dataclasses.replace(col, nullable=False) if col.name in primary else col for col in columns
            )
        indexes = tuple(
            Index(name=str(name), columns=_index_columns(str(expressions)), unique=bool(unique))
            for name, unique, expressions in self.execute(
                f"SELECT index_name, is_unique, expressions FROM duckdb_indexes() WHERE {self._where()} "
                "ORDER BY index_name",
                key,
            )
        )
        return TableSchema(
            name=table,
            columns=columns,
            primary_key=primary,
            unique_constraints=tuple(uniques),
            foreign_keys=tuple(foreign),
            check_constraints=tuple(checks),
            indexes=indexes,
            sequences=tuple(self._sequences(columns)),
            row_count_estimate=self._estimated_rows(key),
        )

    def estimate_rows(self, table: str) -> int | None:
        # DuckDB keeps each table's row count in its catalog; counting is a metadata read either way.
        estimated = self._estimated_rows([self.schema_name, table])
        return self.row_count(table) if estimated is None else estimated

    def _estimated_rows(self, key: list[str]) -> int | None:
        rows = self.execute(f"SELECT estimated_size FROM duckdb_tables() WHERE {self._where()}", key)
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def _sequences(self, columns: Sequence[Column]) -> Iterator[SequenceInfo]:
        for col in columns:
            match = _NEXTVAL.match(col.default or "")
            if not match:
                continue
            name = match[1].replace("''", "'")
            rows = self.execute(
                "SELECT last_value, start_value, increment_by FROM duckdb_sequences() "
                "WHERE database_name = current_database() AND (sequence_name = ? OR "
                "schema_name || '.' || sequence_name = ?)",
                [name, name],
            )
            if rows:
                last, start, step = rows[0]
                yield SequenceInfo(
                    name=name, column=col.name, next_value=start if last is None else last + step
                )
            else:
                yield SequenceInfo(name=name, column=col.name, next_value=None)

    # -- reading -----------------------------------------------------------------------------
    def _relation(self, conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> Any:
        try:
            return conn.sql(sql, params=list(params) if params else None)
        except duckdb.CatalogException as exc:
            if "Table with name" in str(exc):
                raise TableNotFoundError(f"{self.describe()}: {str(exc).splitlines()[0]}") from exc
            raise
        except duckdb.IOException as exc:
            raise ConnectionFailure(f"{self.describe()}: {exc}") from exc

    @contextlib.contextmanager
    def _memory_bound(self, conn: duckdb.DuckDBPyConnection, sql: str) -> Iterator[None]:
        """A query past the connection's memory limit as a SystemFailure (the user cannot fix it),
        and one running past ``timeouts.statement`` interrupted (an embedded engine has no server
        to end it)."""
        limit = self.timeouts.statement or None
        with watchdog(limit, conn.interrupt) as expired:
            try:
                yield
            except duckdb.OutOfMemoryException as exc:
                raise SystemFailure(
                    f"{self.describe()}: the query ran out of memory ({_MEMORY_LIMIT} per connection): "
                    f"{str(exc).splitlines()[0]}"
                ) from exc
            except duckdb.InterruptException:
                if not expired():
                    raise
                raise statement_too_long(self.describe(), limit, sql) from None
            except OSError as exc:  # a stream's Arrow reader reports DuckDB's interrupt as an OSError
                if not (expired() and "INTERRUPT" in str(exc)):
                    raise
                raise statement_too_long(self.describe(), limit, sql) from None
        if expired():
            # Interrupted as the block ended: the interrupt would otherwise end the stream's next
            # batch, whose own limit never passed. The deadline did pass: say so.
            raise statement_too_long(self.describe(), limit, sql)

    def stream_query(
        self, sql: str, params: Sequence[Any] = (), *, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> Iterator[pa.RecordBatch]:
        return self.paced(self._stream_query(sql, params, batch_rows))

    def _stream_query(self, sql: str, params: Sequence[Any], batch_rows: int) -> Iterator[pa.RecordBatch]:
        # A cursor of its own, so a concurrent execute() on the connector cannot cut the stream short.
        cursor = self._connection().cursor()
        try:
            with self._memory_bound(cursor, sql):
                cursor.execute("SET TimeZone = 'UTC'")  # settings are per cursor
                relation = self._relation(cursor, sql, params)
                reader = None if relation is None else relation.to_arrow_reader(batch_rows)
            if reader is None:
                return
            while True:
                # The limit holds per batch: the caller's time between batches is not the query's.
                with self._memory_bound(cursor, sql):
                    batch = next(reader, None)
                if batch is None:
                    return
                yield batch
        finally:
            cursor.close()

    def key_condition(
        self, key_columns: Sequence[Column], keys: Sequence[tuple[Any, ...]]
    ) -> tuple[str, list[Any]]:
        """One list parameter per key column, unnested into a semi join (a long IN list of parameters
        makes DuckDB plan a large, memory-hungry filter). Each list is cast to its column's type; a
        value the type cannot hold becomes NULL, which matches no row."""
        quoted = ", ".join(self.quote(col.name) for col in key_columns)
        lists = ", ".join(f"unnest(TRY_CAST(? AS {col.data_type}[]))" for col in key_columns)
        condition = (
            f"({quoted}) IN (SELECT {lists})" if len(key_columns) > 1 else f"{quoted} IN (SELECT {lists})"
        )
        return condition, [[key[i] for key in keys] for i in range(len(key_columns))]

    def query_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        with self._memory_bound(self._connection(), sql):
            relation = self._relation(self._connection(), sql, params)
            return relation.to_arrow_table() if relation is not None else pa.table({})

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._memory_bound(self._connection(), sql):
            relation = self._relation(self._connection(), sql, params)
            return [] if relation is None else list(relation.fetchall())

    @contextlib.contextmanager
    def transaction(self) -> Iterator[_Writer]:
        """A write transaction on its own read-write connection; commits on success, rolls back on error.

        DuckDB refuses a read-write and a read-only connection to one file in the same process, so the
        reading connection is closed first (streams still open on it end) and reopened on next use.
        """
        self.refuse_writes_on_source()
        if self.path != ":memory:":
            self.close()
        conn = self._open(read_only=False) if self.path != ":memory:" else self._connection()
        conn.execute("BEGIN TRANSACTION")
        try:
            yield _Writer(conn, self.describe())
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            if conn is not self._conn:
                conn.close()


class _Writer:
    """What :meth:`DuckDbConnector.transaction` yields: ``execute(sql, params)`` inside the transaction."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, where: str) -> None:
        self._conn = conn
        self._where = where

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            self._conn.execute(sql, list(params))
        except duckdb.Error as exc:
            raise write_failure(self._where, sql, exc) from exc
        try:
            return list(self._conn.fetchall())
        except duckdb.InvalidInputException:
            return []  # a statement without a result set
