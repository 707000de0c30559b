# Over 300 lines: one engine's whole connector (connection, introspection, type families, Arrow reads, timeouts) in one place, as every engine has it.
"""MariaDB/MySQL connector: pymysql for metadata and small results, connectorx Arrow streams for reads.

URL: ``mysql://user:password@host:port/database`` (or ``mariadb://``); the database is the schema.

Reads stream through connectorx (``arrow_stream``, its own connection per query with the session
``time_zone`` set to ``+00:00``), measured about 6x faster than a pymysql server-side cursor at a
third of its peak memory (see docs/readme/connectors-servers.md). connectorx binds no parameters,
so parameters are rendered as literals by pymysql's escaping for the connection's character set.

Families that come back as the server's text rendering (``CAST(... AS CHAR)``; the canonical
layer parses them): DECIMAL (exact, scale kept), DATE, TIMESTAMP (DATETIME) and TIMESTAMPTZ
(TIMESTAMP, rendered in UTC) so that zero dates such as ``0000-00-00`` never crash the driver and
fractional seconds are kept, TIME (it may be negative or above 24 hours), JSON, ENUM, SET, UUID
and OTHER. BIT(n) comes back as an unsigned integer; YEAR as an integer. Native Arrow types:
integers (``tinyint(1)`` stays an integer), floats, text and binary.

The metadata connection is read-only (``SET SESSION TRANSACTION READ ONLY``); only
:meth:`MySqlConnector.transaction` opens a separate, writable connection.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote as url_quote

import pyarrow as pa
import pymysql

from pm_pipeline.core.connectors.base import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_TIMEOUTS,
    ConnectionUrl,
    Connector,
    Timeouts,
    no_answer,
    read_ahead,
    reading_errors,
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
from pm_pipeline.core.connectors.schema import Sequence as SequenceInfo
from pm_pipeline.core.dialects.mysql import MySqlDialect
from pm_pipeline.core.errors import ConnectionFailure, TableNotFoundError

_MISSING_TABLE = re.compile(r"Table '([^']+)' doesn't exist")


def short_reason(exc: BaseException) -> str:
    """One line out of a pymysql/connectorx error: the server's message, without error codes."""
    text = str(exc.args[1]) if isinstance(exc, pymysql.MySQLError) and len(exc.args) >= 2 else str(exc)
    text = re.sub(r"^.*?ERROR \d+ \([0-9A-Z]+\): ", "", text.splitlines()[0] if text else "unknown error")
    text = text.rstrip(" }")
    refused = re.search(r"\[Errno \d+\] ([^)]+)\)", text)
    if refused:
        return refused.group(1).lower()
    return text


class MySqlConnector(Connector):
    engine = "mysql"
    dialect = MySqlDialect()
    placeholder = "%s"
    # connectorx queues every batch it has decoded (an unbounded channel); InnoDB keeps rows in
    # primary-key order, so a key range is a plain range scan.
    reads_key_ranges = True

    def __init__(self, url: ConnectionUrl, *, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> None:
        super().__init__(url, timeouts=timeouts)
        if not url.database:
            raise ConnectionFailure(f"cannot connect to {url.masked}: the URL names no database")
        self.schema = url.database
        self._conn = self._connect(read_only=True)
        self._is_mariadb = "mariadb" in self._conn.get_server_info().lower()
        # connectorx opens its own sessions: each gets the same settings, read-only included.
        self._session = [
            "SET time_zone = '+00:00'",
            "SET NAMES utf8mb4",
            "SET SESSION TRANSACTION READ ONLY",
            *self._statement_limit(),
            *self._lock_limit(),
        ]
        for statement in self._session[3:]:
            self.execute(statement)
        if not self._is_mariadb:
            # MySQL 8 caches information_schema statistics (AUTO_INCREMENT) for a day by default.
            with contextlib.suppress(pymysql.MySQLError):
                self.execute("SET SESSION information_schema_stats_expiry = 0")

    # -- lifecycle ---------------------------------------------------------------------------
    def _connect(self, *, read_only: bool) -> pymysql.connections.Connection[Any]:
        try:
            conn = pymysql.connect(
                host=self.url.host or "localhost",
                port=self.url.port or 3306,
                user=self.url.user or "",
                password=self.url.password or "",
                database=self.url.database,
                charset="utf8mb4",
                # pymysql's read timeout is a socket timeout: its own idle watchdog.
                connect_timeout=self.timeouts.connect or None,
                read_timeout=self.timeouts.first_answer,
                write_timeout=self.timeouts.next_answer,
                autocommit=read_only,
                init_command="SET time_zone = '+00:00'",
            )
        except pymysql.MySQLError as exc:
            raise ConnectionFailure(f"cannot connect to {self.url.masked}: {short_reason(exc)}") from None
        if read_only:
            _run(conn, "SET SESSION TRANSACTION READ ONLY", ())
        return conn

    def _statement_limit(self) -> list[str]:
        """The server's own limit on a read statement: MariaDB's max_statement_time (seconds),
        MySQL's max_execution_time (milliseconds, SELECT only). Rollback writes are not limited."""
        seconds = self.timeouts.statement
        if not seconds:
            return []
        if self._is_mariadb:
            return [f"SET SESSION max_statement_time = {seconds:.3f}"]
        return [f"SET SESSION max_execution_time = {max(1, round(seconds * 1000))}"]

    def _lock_limit(self) -> list[str]:
        """How long a read waits for a lock another session holds: metadata locks (an ALTER TABLE)
        and InnoDB row locks (a locking read). Both servers take whole seconds, at least 1."""
        if not self.timeouts.lock:
            return []
        seconds = max(1, round(self.timeouts.lock))
        return [
            f"SET SESSION lock_wait_timeout = {seconds}",
            f"SET SESSION innodb_lock_wait_timeout = {seconds}",
        ]

    def close(self) -> None:
        if self._conn.open:
            self._conn.close()

    def interrupt(self) -> None:
        """``KILL QUERY`` of this connection's thread, from a connection of its own (a server
        that answers nothing fails it within the connect timeout; the statement then runs on)."""
        with contextlib.suppress(pymysql.MySQLError, ConnectionFailure, OSError):
            killer = self._connect(read_only=True)
            try:
                _run(killer, f"KILL QUERY {int(self._conn.thread_id())}", ())
            finally:
                killer.close()

    # -- metadata ----------------------------------------------------------------------------
    def server_version(self) -> str:
        # VERSION(), not the handshake, which MariaDB prefixes with '5.5.5-'.
        raw = str(self.execute("SELECT VERSION()")[0][0])  # e.g. '10.11.19-MariaDB-0+deb12u1', '8.0.36'
        number = re.match(r"[\d.]+", raw)
        version = number.group(0) if number else raw
        return f"{'MariaDB' if self._is_mariadb else 'MySQL'} {version}"

    def list_tables(self) -> list[str]:
        rows = self.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE'",
            (self.schema,),
        )
        return sorted(str(row[0]) for row in rows)

    def foreign_keys_into(self, tables: Sequence[str]) -> list[tuple[str, str, str]]:
        if not tables:
            return []
        listed = ", ".join(["%s"] * len(tables))
        rows = self.execute(
            "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_NAME "
            "FROM information_schema.REFERENTIAL_CONSTRAINTS "
            f"WHERE UNIQUE_CONSTRAINT_SCHEMA = %s AND REFERENCED_TABLE_NAME IN ({listed}) "
            f"AND NOT (CONSTRAINT_SCHEMA = %s AND TABLE_NAME IN ({listed})) ORDER BY 1, 2, 3",
            (self.schema, *tables, self.schema, *tables),
        )
        return [
            (str(child) if schema == self.schema else f"{schema}.{child}", str(name), str(parent))
            for schema, child, name, parent in rows
        ]

    def introspect(self, table: str) -> TableSchema:
        found = _read_table_schema(self.execute, schema=self.schema, table=table)
        if found is None:
            raise TableNotFoundError(f"table {self.schema}.{table} not found in {self.url.masked}")
        return found

    exact_count_bytes = 64 * 2**20  # tables up to this size are counted exactly

    def estimate_rows(self, table: str) -> int | None:
        found = self.execute(
            "SELECT TABLE_ROWS, DATA_LENGTH FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (self.schema, table),
        )
        if not found:
            raise TableNotFoundError(f"table {self.schema}.{table} not found in {self.url.masked}")
        rows, size = found[0]
        if size is not None and int(size) <= self.exact_count_bytes:
            return self.row_count(table)
        # InnoDB's TABLE_ROWS is sampled statistics: cheap, and off by up to tens of percent.
        return None if rows is None else int(rows)

    # -- reading -----------------------------------------------------------------------------
    def compact_expression(self, column: Column) -> str:
        # DATETIME and TIMESTAMP without fractions as the number YYYYMMDDhhmmss: the server spends
        # far less on it than on text (about 1.3 s of CPU per 10M values here), and zero dates
        # survive as 0, which the driver's own datetime type cannot carry.
        if column.family in (TypeFamily.TIMESTAMP, TypeFamily.TIMESTAMPTZ) and not column.precision:
            return f"CAST({self.quote(column.name)} + 0 AS UNSIGNED)"
        return self.select_expression(column)

    def render(self, sql: str, params: Sequence[Any] = ()) -> str:
        """``sql`` with its ``%s`` parameters rendered as literals (connectorx cannot bind)."""
        if not params:
            return sql
        with self._conn.cursor() as cur:
            return str(cur.mogrify(sql, tuple(params)))

    def _cx_url(self) -> str:
        user = url_quote(self.url.user or "", safe="")
        auth = f"{user}:{url_quote(self.url.password, safe='')}@" if self.url.password else f"{user}@"
        return (
            f"mysql://{auth}{self.url.host or 'localhost'}:{self.url.port or 3306}/"
            f"{url_quote(self.schema, safe='')}"
        )

    def _reader(self, sql: str, params: Sequence[Any], batch_rows: int) -> pa.RecordBatchReader:
        import connectorx as cx

        with self._reading(sql):
            reader: pa.RecordBatchReader = cx.read_sql(
                self._cx_url(),
                self.render(sql, params),
                return_type="arrow_stream",
                batch_size=batch_rows,
                pre_execution_query=self._session,
            )
        return reader

    def _query_error(self, exc: Exception) -> Exception:
        message = str(exc).replace(self.url.password or "\0", "***")
        missing = _MISSING_TABLE.search(message)
        if missing:
            return TableNotFoundError(f"table {missing.group(1)} not found in {self.url.masked}")
        return ConnectionFailure(f"query failed on {self.url.masked}: {short_reason(Exception(message))}")

    def _reading(self, sql: str) -> contextlib.AbstractContextManager[None]:
        return reading_errors(self.describe(), sql, self._query_error, secret=self.url.password)

    def stream_query(
        self, sql: str, params: Sequence[Any] = (), *, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> Iterator[pa.RecordBatch]:
        rendered = self.render(sql, params)
        # connectorx blocks inside its driver, out of reach: a stuck read is abandoned in its thread.
        return self.paced(read_ahead(self._batches(rendered, batch_rows), 1, **self._waits(rendered)))

    def _batches(self, sql: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        reader = self._reader(sql, (), batch_rows)
        with self._reading(sql):
            for batch in reader:
                if batch.num_rows:
                    yield batch

    def _waits(self, sql: str) -> dict[str, Any]:
        return {
            "first_wait": self.timeouts.first_answer,
            "next_wait": self.timeouts.next_answer,
            "stuck": lambda seconds: no_answer(self.describe(), seconds, sql),
        }

    def query_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        rendered = self.render(sql, params)
        result: pa.Table = next(read_ahead(self._whole(rendered), 1, **self._waits(rendered)))
        return result

    def _whole(self, sql: str) -> Iterator[pa.Table]:
        reader = self._reader(sql, (), DEFAULT_BATCH_ROWS)
        with self._reading(sql):
            yield pa.Table.from_batches(list(reader), schema=reader.schema)

    # -- pushdown ----------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return _run(self._conn, sql, params)
        except pymysql.MySQLError as exc:
            if exc.args and exc.args[0] == 1146:
                raise TableNotFoundError(f"{short_reason(exc)} in {self.url.masked}") from None
            if isinstance(exc, pymysql.OperationalError):
                raise ConnectionFailure(f"query failed on {self.url.masked}: {short_reason(exc)}") from None
            raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        self.refuse_writes_on_source()
        conn = self._connect(read_only=False)
        try:
            conn.begin()
            yield _Transaction(conn, self.describe())
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def qualified(self, table: str) -> str:
        return self.dialect.qualified(table, self.schema)


def _run(conn: pymysql.connections.Connection[Any], sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql, tuple(params) if params else None)
        return list(cur.fetchall()) if cur.description else []


class _Transaction:
    """What :meth:`MySqlConnector.transaction` yields: statements run inside one transaction."""

    def __init__(self, conn: pymysql.connections.Connection[Any], where: str) -> None:
        self._conn = conn
        self._where = where

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return _run(self._conn, sql, params)
        except pymysql.MySQLError as exc:
            raise write_failure(self._where, sql, Exception(short_reason(exc))) from exc


# -- introspection ---------------------------------------------------------------------------
_Execute = Any  # Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]

_INT_BITS = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "integer": 32, "bigint": 64}
_FAMILIES: dict[str, TypeFamily] = {
    **dict.fromkeys(_INT_BITS, TypeFamily.INTEGER),
    "bit": TypeFamily.INTEGER,
    "year": TypeFamily.INTEGER,
    "decimal": TypeFamily.DECIMAL,
    "numeric": TypeFamily.DECIMAL,
    "float": TypeFamily.FLOAT,
    "double": TypeFamily.FLOAT,
    **dict.fromkeys(("char", "varchar", "tinytext", "text", "mediumtext", "longtext"), TypeFamily.TEXT),
    **dict.fromkeys(("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"), TypeFamily.BINARY),
    "date": TypeFamily.DATE,
    "time": TypeFamily.TIME,
    "datetime": TypeFamily.TIMESTAMP,
    "timestamp": TypeFamily.TIMESTAMPTZ,  # an instant, stored in UTC
    "json": TypeFamily.JSON,
    "uuid": TypeFamily.UUID,
    "enum": TypeFamily.ENUM,
    "set": TypeFamily.SET,
}
_ENUM_VALUE = re.compile(r"'((?:[^']|'')*)'")


def _read_table_schema(execute: _Execute, *, schema: str, table: str) -> TableSchema | None:
    found = execute(
        "SELECT AUTO_INCREMENT, TABLE_ROWS FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (schema, table),
    )
    if not found:
        return None
    auto_increment, table_rows = found[0]
    where = "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
    checks: dict[str, str] = {
        name: clause
        for name, clause in execute(
            "SELECT cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS cc "
            "JOIN information_schema.TABLE_CONSTRAINTS tc ON tc.CONSTRAINT_SCHEMA = cc.CONSTRAINT_SCHEMA "
            "AND tc.CONSTRAINT_NAME = cc.CONSTRAINT_NAME AND tc.CONSTRAINT_TYPE = 'CHECK' "
            "WHERE tc.TABLE_SCHEMA = %s AND tc.TABLE_NAME = %s ORDER BY cc.CONSTRAINT_NAME",
            (schema, table),
        )
    }
    columns: list[Column] = []
    for row in execute(
        "SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT, CHARACTER_MAXIMUM_LENGTH, "
        "NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, EXTRA "
        f"FROM information_schema.COLUMNS {where} ORDER BY ORDINAL_POSITION",
        (schema, table),
    ):
        column = _column(row)
        # MariaDB's JSON is LONGTEXT guarded by a column-level json_valid() check: the check is the type.
        validity = f"json_valid(`{column.name.replace('`', '``')}`)"
        if column.family is TypeFamily.TEXT and checks.get(column.name) == validity:
            checks.pop(column.name)
            column = Column(**{**column.__dict__, "data_type": "json", "family": TypeFamily.JSON})
        columns.append(column)

    index_columns: dict[str, list[str]] = {}
    index_unique: dict[str, bool] = {}
    for name, non_unique, col in execute(
        f"SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS {where} "
        "ORDER BY INDEX_NAME, SEQ_IN_INDEX",
        (schema, table),
    ):
        index_columns.setdefault(name, []).append(col)
        index_unique[name] = not int(non_unique)
    primary_key = tuple(index_columns.pop("PRIMARY", ()))
    indexes = tuple(Index(name, tuple(cols), index_unique[name]) for name, cols in index_columns.items())

    foreign: dict[str, tuple[list[str], str, list[str]]] = {}
    for name, col, ref_schema, ref_table, ref_col in execute(
        "SELECT CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, "
        f"REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE {where} "
        "AND REFERENCED_TABLE_NAME IS NOT NULL ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION",
        (schema, table),
    ):
        target = ref_table if ref_schema == schema else f"{ref_schema}.{ref_table}"
        cols, _, ref_cols = foreign.setdefault(name, ([], target, []))
        cols.append(col)
        ref_cols.append(ref_col)

    identity = [col.name for col in columns if col.identity]
    return TableSchema(
        name=table,
        columns=tuple(columns),
        primary_key=primary_key,
        # In MySQL a unique constraint is a unique index.
        unique_constraints=tuple(UniqueConstraint(ix.name, ix.columns) for ix in indexes if ix.unique),
        foreign_keys=tuple(ForeignKey(n, tuple(c), t, tuple(r)) for n, (c, t, r) in foreign.items()),
        check_constraints=tuple(CheckConstraint(name, clause) for name, clause in checks.items()),
        indexes=indexes,
        sequences=tuple(
            SequenceInfo(name="AUTO_INCREMENT", column=name, next_value=_int(auto_increment))
            for name in identity
        ),
        row_count_estimate=_int(table_rows),
        extra={"schema": schema},
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _column(row: tuple[Any, ...]) -> Column:
    name, column_type, data_type, nullable, default, char_len, num_prec, num_scale, dt_prec, extra = row
    base = str(data_type).lower()
    family = _FAMILIES.get(base, TypeFamily.OTHER)
    precision: int | None = None
    scale: int | None = None
    length: int | None = None
    enum_values: tuple[str, ...] | None = None
    if base in _INT_BITS:
        precision = _INT_BITS[base]
    elif base == "bit":
        precision = _int(num_prec)
    elif family is TypeFamily.DECIMAL:
        precision, scale = _int(num_prec), _int(num_scale)
    elif base == "float":
        precision = 24
    elif base == "double":
        precision = 53
    elif family in (TypeFamily.TEXT, TypeFamily.BINARY):
        length = _int(char_len)
    elif family in (TypeFamily.TIME, TypeFamily.TIMESTAMP, TypeFamily.TIMESTAMPTZ):
        precision = _int(dt_prec) or 0
    elif family in (TypeFamily.ENUM, TypeFamily.SET):
        enum_values = tuple(v.replace("''", "'") for v in _ENUM_VALUE.findall(str(column_type)))
    # MariaDB reports "no default" on a nullable column as the literal text NULL.
    if default is not None and str(default).upper() == "NULL":
        default = None
    return Column(
        name=name,
        data_type=str(column_type),
        family=family,
        nullable=nullable == "YES",
        default=None if default is None else str(default),
        length=length,
        precision=precision,
        scale=scale,
        unsigned="unsigned" in str(column_type).lower(),
        enum_values=enum_values,
        identity="auto_increment" in str(extra).lower(),
        zero_dates=family in (TypeFamily.DATE, TypeFamily.TIMESTAMP, TypeFamily.TIMESTAMPTZ),
    )
