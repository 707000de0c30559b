# Over 300 lines: one engine's whole connector (connection, introspection, type families, Arrow reads, timeouts) in one place, as every engine has it.
"""PostgreSQL connector: psycopg for metadata and small results, ADBC Arrow streams for reads.

URL: ``postgresql://user:password@host:port/database?schema=public`` (``schema`` defaults to
``public``; other query parameters such as ``sslmode`` go to libpq).

Reads stream through ADBC (``adbc-driver-postgresql``: binary ``COPY``, its own connection per
query, the session in UTC and read-only, ``schema`` as search path). ADBC decodes in the thread
that asks for a batch, with less CPU than connectorx (measured in docs/readme/connectors-servers.md);
``read_ahead`` keeps two batches decoding ahead in a thread of its own so the server keeps sending.
Parameters are rendered as literals by psycopg's client-side quoting.

Families that come back as their PostgreSQL text rendering (the canonical layer parses them):
DECIMAL (``numeric::text``, exact, scale kept), UUID, JSON (json/jsonb), ENUM, INTERVAL, and
OTHER (arrays, ranges, money, network types, ...); also ``time with time zone``. Native Arrow
types: integers, floats, booleans, text, bytea (binary), date, time, timestamp (naive) and
timestamptz (``timestamp[us, tz=UTC]``).

The metadata connection is read-only (``default_transaction_read_only``); only
:meth:`PostgresConnector.transaction` opens a separate, writable connection.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote as url_quote
from urllib.parse import urlencode

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg.conninfo import make_conninfo

from pm_pipeline.core.connectors.base import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_TIMEOUTS,
    ConnectionUrl,
    Connector,
    Timeouts,
    no_answer,
    query_table,
    read_ahead,
    reading_errors,
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
from pm_pipeline.core.connectors.schema import Sequence as SequenceInfo
from pm_pipeline.core.dialects.postgres import PostgresDialect
from pm_pipeline.core.errors import ConnectionFailure, TableNotFoundError

READ_AHEAD_BATCHES = 2  # batches a stream decodes ahead of its reader
_SESSION_OPTIONS = "-c TimeZone=UTC -c default_transaction_read_only=on"
# Families read natively; every other family is read as its text rendering.
_MISSING_RELATION = re.compile(r'relation "([^"]+)" does not exist')


def short_reason(message: str) -> str:
    """One line out of a libpq error: the cause, without the 'connection to server at ...' preamble."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    text = lines[0] if lines else "unknown error"
    # ADBC's prefixes: a status code, the library, the step that failed.
    text = re.sub(r"^(?:[A-Z_]+: )?(?:\[libpq\] )?", "", text)
    text = re.sub(
        r"^(?:Failed to (?:connect|prepare query|execute query)|Execution error \[\w+\]): ", "", text
    )
    text = re.sub(r"^connection failed: ", "", text)
    text = re.sub(r'^connection to server at "[^"]*"(?: \([^)]*\))?, port \d+ failed: ', "", text)
    text = re.sub(r"^(?:FATAL|ERROR):\s*", "", text)
    return text[0].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text


class PostgresConnector(Connector):
    engine = "postgresql"
    dialect = PostgresDialect()
    placeholder = "%s"

    def __init__(self, url: ConnectionUrl, *, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> None:
        super().__init__(url, timeouts=timeouts)
        self.schema = url.query.get("schema", "public")
        self._libpq_params = {k: v for k, v in url.query.items() if k != "schema"}
        self._conn = self._connect(read_only=True)
        self.planner_settings: tuple[tuple[str, str], ...] = ()

    # -- lifecycle ---------------------------------------------------------------------------
    def _session_params(self, *, read_only: bool) -> dict[str, str]:
        """libpq parameters every connection gets: the session settings and the timeouts. A URL's
        own libpq parameters win over the timeouts' (``?keepalives_idle=``)."""
        options = _SESSION_OPTIONS if read_only else "-c TimeZone=UTC"
        limits = self.timeouts
        # The server ends a statement after statement_timeout; a write transaction (a rollback)
        # is never cut short by it.
        if read_only and limits.statement:
            options += f" -c statement_timeout={round(limits.statement * 1000)}"
        if read_only and limits.lock:
            # A read queued behind a production lock (an ALTER TABLE, a VACUUM FULL) gives up.
            options += f" -c lock_timeout={max(1, round(limits.lock * 1000))}"
        params = {"options": options, "keepalives": "1"}
        if limits.connect:
            # libpq's unit is whole seconds, and it treats 1 as 2.
            params["connect_timeout"] = str(max(2, round(limits.connect + 0.49)))
        if limits.idle:
            # A peer gone without a word (a host powered off, a dropped route) is noticed by TCP
            # keepalives and unacknowledged writes; a frozen server, whose kernel still answers,
            # is left to the idle watchdog.
            probe = max(1, round(limits.idle / 4))
            params |= {
                "keepalives_idle": str(probe),
                "keepalives_interval": str(probe),
                "keepalives_count": "3",
                "tcp_user_timeout": str(round(limits.idle * 1000)),
            }
        return params | self._libpq_params

    def _connect(self, *, read_only: bool) -> psycopg.Connection[tuple[Any, ...]]:
        try:
            conninfo = make_conninfo(
                "",
                host=self.url.host or "localhost",
                port=self.url.port or 5432,
                user=self.url.user,
                password=self.url.password,
                dbname=self.url.database,
                **self._session_params(read_only=read_only),
            )
            return psycopg.connect(conninfo, autocommit=read_only)
        except psycopg.Error as exc:
            raise ConnectionFailure(
                f"cannot connect to {self.url.masked}: {short_reason(str(exc))}"
            ) from None

    def close(self) -> None:
        self._conn.close()

    # -- metadata ----------------------------------------------------------------------------
    def server_version(self) -> str:
        number = self._conn.info.server_version  # e.g. 150019
        major, minor = divmod(number, 10000)
        if major < 10:
            major, minor = divmod(number, 100)
            minor %= 100
        return f"PostgreSQL {major}.{minor}"

    def list_tables(self) -> list[str]:
        rows = self.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
            (self.schema,),
        )
        return sorted(str(row[0]) for row in rows)

    def foreign_keys_into(self, tables: Sequence[str]) -> list[tuple[str, str, str]]:
        rows = self.execute(
            "SELECT cn.nspname, c.relname, con.conname, r.relname FROM pg_constraint con "
            "JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace "
            "JOIN pg_class r ON r.oid = con.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace "
            "WHERE con.contype = 'f' AND rn.nspname = %s AND r.relname = ANY(%s) "
            "AND NOT (cn.nspname = %s AND c.relname = ANY(%s)) ORDER BY 1, 2, 3",
            (self.schema, list(tables), self.schema, list(tables)),
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

    exact_count_bytes = 64 * 2**20  # heap tables up to this size are counted exactly (tens of ms)

    def estimate_rows(self, table: str) -> int | None:
        found = self.execute(
            "SELECT c.relkind, pg_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
            (self.schema, table),
        )
        if not found:
            raise TableNotFoundError(f"table {self.schema}.{table} not found in {self.url.masked}")
        kind, size = found[0]
        if kind == "r" and size <= self.exact_count_bytes:
            return self.row_count(table)
        # The planner scales the last ANALYZE's rows per page to the table's current size (and
        # estimates a never-analysed table from its width) without reading a row.
        plan = self.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {self.qualified(table)}")
        return int(plan[0][0][0]["Plan"]["Plan Rows"])

    # -- reading -----------------------------------------------------------------------------
    def render(self, sql: str, params: Sequence[Any] = ()) -> str:
        """``sql`` with its ``%s`` parameters rendered as literals (streams are read unbound)."""
        if not params:
            return sql
        return psycopg.ClientCursor(self._conn).mogrify(sql, list(params))

    def _adbc_uri(self) -> str:
        user = url_quote(self.url.user or "", safe="")
        auth = f"{user}:{url_quote(self.url.password, safe='')}@" if self.url.password else f"{user}@"
        params = self._session_params(read_only=True)
        host = self.url.host or "localhost"
        # An IPv6 address goes in brackets; a socket directory is percent-encoded.
        host = f"[{host}]" if ":" in host else url_quote(host, safe="")
        return (
            f"postgresql://{auth}{host}:{self.url.port or 5432}/"
            f"{url_quote(self.url.database or '', safe='')}?{urlencode(params, quote_via=url_quote)}"
        )

    @contextlib.contextmanager
    def _result(self, sql: str, params: Sequence[Any], batch_rows: int) -> Iterator[pa.RecordBatchReader]:
        """The result of ``sql`` on a connection of its own, as a reader of Arrow batches.

        ADBC reads with ``COPY ... TO STDOUT (FORMAT binary)`` and decodes in the calling thread
        (the GIL released) when the caller asks for a batch; ``stream_query`` asks from a thread of
        its own, two batches ahead. Batches are sized in bytes; ``batch_rows`` sets that size
        (``_batch_bytes``)."""
        import adbc_driver_postgresql
        import adbc_driver_postgresql.dbapi as adbc

        rendered = self.render(sql, params)
        with self._reading(sql, connecting=True):
            connection = adbc.connect(self._adbc_uri(), autocommit=True)
        try:
            with self._reading(sql):
                cursor = connection.cursor()
                hint = adbc_driver_postgresql.StatementOptions.BATCH_SIZE_HINT_BYTES.value
                cursor.adbc_statement.set_options(**{hint: str(_batch_bytes(batch_rows))})
                cursor.execute(f"SET search_path TO {self.quote(self.schema)}")
                for name, value in self.planner_settings:
                    cursor.execute(f"SET {name} = {value}")
                cursor.execute(rendered)
                reader: pa.RecordBatchReader = cursor.fetch_record_batch()
                yield reader
        finally:
            connection.close()

    @contextlib.contextmanager
    def planner(self, **settings: str) -> Iterator[None]:
        """Planner settings for the queries read inside the block (e.g. hash aggregation of buckets)."""
        previous = self.planner_settings
        self.planner_settings = (*previous, *settings.items())
        try:
            yield
        finally:
            self.planner_settings = previous

    def hash_aggregation(self) -> contextlib.AbstractContextManager[None]:
        # The planner takes a unique grouping expression (a bucket of the key hash) for a group
        # per row and sorts every row to disk; the groups are few, so a hash aggregate is right.
        return self.planner(enable_sort="off", work_mem="'64MB'")

    def _query_error(self, exc: Exception, sql: str, *, connecting: bool) -> Exception:
        message = str(exc).replace(self.url.password or "\0", "***")
        missing = _MISSING_RELATION.search(message)
        if missing:
            return TableNotFoundError(f"table {missing.group(1)} not found in {self.url.masked}")
        if connecting:
            return ConnectionFailure(f"cannot connect to {self.url.masked}: {short_reason(message)}")
        table = query_table(sql)
        on = f"on table {table} " if table else ""
        return ConnectionFailure(
            f"{self.describe()}: the query {on}failed: {self._lock_hint(short_reason(message), sql)}"
        )

    def _reading(self, sql: str, *, connecting: bool = False) -> contextlib.AbstractContextManager[None]:
        return reading_errors(
            self.describe(),
            sql,
            lambda exc: self._query_error(exc, sql, connecting=connecting),
            secret=self.url.password,
        )

    def stream_query(
        self, sql: str, params: Sequence[Any] = (), *, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> Iterator[pa.RecordBatch]:
        # Rendered here: the metadata connection quotes the literals, in the caller's thread.
        rendered = self.render(sql, params)
        return self.paced(
            read_ahead(self._stream(rendered, batch_rows), READ_AHEAD_BATCHES, **self._waits(rendered))
        )

    def _waits(self, sql: str) -> dict[str, Any]:
        """read_ahead's limits: ADBC blocks inside libpq, out of reach; its thread is abandoned."""
        return {
            "first_wait": self.timeouts.first_answer,
            "next_wait": self.timeouts.next_answer,
            "stuck": lambda seconds: no_answer(self.describe(), seconds, sql),
        }

    def _stream(self, sql: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        with self._result(sql, (), batch_rows) as reader:
            schema = arrow_schema(reader.schema)
            with self._reading(sql):
                for batch in reader:
                    batch = conform(batch, schema)
                    for start in range(0, batch.num_rows, batch_rows):
                        yield batch.slice(start, batch_rows)

    def query_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        rendered = self.render(sql, params)
        result: pa.Table = next(read_ahead(self._whole(rendered), 1, **self._waits(rendered)))
        return result

    def _whole(self, sql: str) -> Iterator[pa.Table]:
        with self._result(sql, (), DEFAULT_BATCH_ROWS) as reader:
            schema = arrow_schema(reader.schema)
            with self._reading(sql):
                yield pa.Table.from_batches([conform(batch, schema) for batch in reader], schema=schema)

    # -- pushdown ----------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        limit = self.timeouts.first_answer
        with watchdog(limit, self._sever) as expired:
            try:
                with self._conn.cursor() as cur:
                    cur.execute(sql.encode(), list(params) if params else None)
                    rows = list(cur.fetchall()) if cur.description else []
            except psycopg.errors.UndefinedTable as exc:
                raise TableNotFoundError(f"{short_reason(str(exc))} in {self.url.masked}") from None
            except psycopg.OperationalError as exc:
                if expired():
                    raise no_answer(self.describe(), limit, sql) from None
                raise ConnectionFailure(
                    f"query failed on {self.url.masked}: {self._lock_hint(short_reason(str(exc)), sql)}"
                ) from None
        if expired():
            # Cut as it answered: the rows arrived, but the connection is shut and the next
            # statement would fail as a lost connection. The deadline did pass: say so here.
            raise no_answer(self.describe(), limit, sql)
        return rows

    def _lock_hint(self, reason: str, sql: str) -> str:
        """``reason``, saying whose lock and which limit when the read gave up waiting for a lock."""
        if "lock timeout" not in reason:
            return reason
        table = query_table(sql)
        # A catalog query (a size estimate) waits on the table it asks about, not on the catalog.
        on = f" on table {table}" if table and not table.strip('"').startswith("pg_") else ""
        return f"{reason} (another session holds a lock{on}; waited timeouts.lock: {self.timeouts.lock:g} s)"

    def answers(self) -> bool:
        # A server that stopped answering would make the probe wait a whole statement's limit.
        with watchdog(self.timeouts.next_answer, self._sever):
            return super().answers()

    def interrupt(self) -> None:
        """A cancel request (the server stops the statement); a server that does not answer it
        within 2 s has the connection's socket shut down instead."""
        try:
            self._conn.cancel_safe(timeout=2.0)
        except Exception:
            with contextlib.suppress(OSError):
                self._sever()

    def _sever(self) -> None:
        """End the metadata connection's wait on a server that answers nothing: shut its socket
        down (libpq then reads end-of-file; a cancel request would wait on the frozen server too)."""
        with socket.socket(fileno=os.dup(self._conn.pgconn.socket)) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)

    @contextlib.contextmanager
    def outside_transaction(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        """A writable session in autocommit, for the statements PostgreSQL refuses inside a
        transaction block (CREATE INDEX CONCURRENTLY)."""
        self.refuse_writes_on_source()
        conn = self._connect(read_only=False)
        try:
            conn.autocommit = True
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        self.refuse_writes_on_source()
        conn = self._connect(read_only=False)
        try:
            with conn.transaction():
                yield _Transaction(conn, self.describe())
        finally:
            conn.close()

    def qualified(self, table: str) -> str:
        return self.dialect.qualified(table, self.schema)


class _Transaction:
    """What :meth:`PostgresConnector.transaction` yields: statements run inside one transaction."""

    def __init__(self, conn: psycopg.Connection[tuple[Any, ...]], where: str) -> None:
        self._conn = conn
        self._where = where

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql.encode(), list(params) if params else None)
                return list(cur.fetchall()) if cur.description else []
        except psycopg.Error as exc:
            raise write_failure(self._where, sql, exc) from exc


def _batch_bytes(batch_rows: int) -> int:
    """ADBC's batch size hint for about ``batch_rows`` rows (assuming 128 bytes a row), 64 KB to 16 MB."""
    return min(16 * 2**20, max(64 * 2**10, batch_rows * 128))


def arrow_schema(schema: pa.Schema) -> pa.Schema:
    """The schema a read leaves the connector with: aware timestamps in 'UTC' (drivers spell it
    '+00:00', 'Etc/UTC' ...), and types ADBC hands over as opaque text (``numeric`` selected
    without a cast) as plain strings."""
    fields = []
    for field in schema:
        if pa.types.is_timestamp(field.type) and field.type.tz in {"+00:00", "Etc/UTC", "Z", "utc"}:
            field = field.with_type(pa.timestamp(field.type.unit, tz="UTC"))
        elif _opaque_text(field.type):
            field = field.with_type(field.type.storage_type)
        fields.append(field)
    return pa.schema(fields, metadata=schema.metadata)


def _opaque_text(data_type: pa.DataType) -> bool:
    return isinstance(data_type, pa.OpaqueType) and pa.types.is_string(data_type.storage_type)


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` in ``schema`` (see ``arrow_schema``), PostgreSQL's ±infinity as ``infinite_as_extremes``."""
    columns = [
        column.storage
        if _opaque_text(column.type)
        else infinite_as_extremes(column if column.type == field.type else column.cast(field.type))
        for column, field in zip(batch.columns, schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


# ADBC moves PostgreSQL's ±infinity (the extreme int64 microseconds and int32 days of its own
# epoch, 2000-01-01) to the Unix epoch, and +infinity wraps around: both land next to the
# smallest value of the type, where no real PostgreSQL value lies (its range starts in 4713 BC).
_PG_EPOCH_US, _PG_EPOCH_DAYS = 946_684_800_000_000, 10_957
_INT64, _INT32 = 2**63, 2**31


def infinite_as_extremes(array: pa.Array) -> pa.Array:
    """A date or timestamp column with ±infinity as DuckDB hands them over (±(2^31 - 1) days,
    ±(2^63 - 1) microseconds), the form ``canonical.values`` reads as infinity."""
    if pa.types.is_date32(array.type):
        shift, width, storage_type = _PG_EPOCH_DAYS, _INT32, pa.int32()
    elif pa.types.is_timestamp(array.type) and array.type.unit == "us":
        shift, width, storage_type = _PG_EPOCH_US, _INT64, pa.int64()
    else:
        return array
    storage = array.view(storage_type)
    low = pc.min(storage).as_py()
    if low is None or low > -width + shift:
        return array
    plus, minus = -width + shift - 1, -width + shift
    extremes = pc.if_else(
        pc.equal(storage, plus), width - 1, pc.if_else(pc.equal(storage, minus), -(width - 1), storage)
    )
    return extremes.cast(storage_type).view(array.type)


# -- introspection ---------------------------------------------------------------------------
_Execute = Any  # Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]

_FAMILIES: dict[str, tuple[TypeFamily, int | None]] = {
    "int2": (TypeFamily.INTEGER, 16),
    "int4": (TypeFamily.INTEGER, 32),
    "int8": (TypeFamily.INTEGER, 64),
    "numeric": (TypeFamily.DECIMAL, None),
    "float4": (TypeFamily.FLOAT, 24),
    "float8": (TypeFamily.FLOAT, 53),
    "text": (TypeFamily.TEXT, None),
    "varchar": (TypeFamily.TEXT, None),
    "bpchar": (TypeFamily.TEXT, None),
    "name": (TypeFamily.TEXT, None),
    "citext": (TypeFamily.TEXT, None),
    "bool": (TypeFamily.BOOLEAN, None),
    "date": (TypeFamily.DATE, None),
    "time": (TypeFamily.TIME, None),
    "timetz": (TypeFamily.TIME, None),
    "timestamp": (TypeFamily.TIMESTAMP, None),
    "timestamptz": (TypeFamily.TIMESTAMPTZ, None),
    "interval": (TypeFamily.INTERVAL, None),
    "json": (TypeFamily.JSON, None),
    "jsonb": (TypeFamily.JSON, None),
    "bytea": (TypeFamily.BINARY, None),
    "uuid": (TypeFamily.UUID, None),
}

# Domains (and domains over domains) are resolved to their base type: its family, width and
# precision. The type modifier is the column's own, else the nearest domain's; a NOT NULL on any
# domain of the chain makes the column NOT NULL.
_DOMAIN_CHAIN = """
WITH RECURSIVE chain(oid, depth) AS (
    SELECT a.atttypid, 0
    UNION ALL
    SELECT t.typbasetype, c.depth + 1 FROM chain c JOIN pg_type t ON t.oid = c.oid WHERE t.typtype = 'd'
)"""
_COLUMNS_SQL = f"""
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull OR dom.not_null,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity, base.typname, base.typtype, base.oid,
       CASE WHEN a.atttypmod >= 0 THEN a.atttypmod ELSE dom.typmod END
FROM pg_attribute a
CROSS JOIN LATERAL ({_DOMAIN_CHAIN}
    SELECT (SELECT oid FROM chain ORDER BY depth DESC LIMIT 1) AS base_oid,
           coalesce((SELECT t.typtypmod FROM chain c JOIN pg_type t ON t.oid = c.oid
                     WHERE t.typtype = 'd' AND t.typtypmod >= 0 ORDER BY c.depth LIMIT 1), -1) AS typmod,
           coalesce((SELECT bool_or(t.typnotnull) FROM chain c JOIN pg_type t ON t.oid = c.oid
                     WHERE t.typtype = 'd'), false) AS not_null
) dom
JOIN pg_type base ON base.oid = dom.base_oid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
# The CHECK constraints of each column's domains, which bind the column like a table CHECK.
_DOMAIN_CHECKS_SQL = f"""
SELECT a.attname, dt.typname, c.conname, pg_get_constraintdef(c.oid, true)
FROM pg_attribute a
CROSS JOIN LATERAL ({_DOMAIN_CHAIN} SELECT oid, depth FROM chain) ch
JOIN pg_type dt ON dt.oid = ch.oid AND dt.typtype = 'd'
JOIN pg_constraint c ON c.contypid = dt.oid AND c.contype = 'c'
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum, ch.depth, c.conname
"""
_CONSTRAINTS_SQL = """
SELECT c.conname, c.contype,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(num, pos)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.pos),
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(num, pos)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.pos),
       rn.nspname, r.relname, pg_get_constraintdef(c.oid, true), c.conindid
FROM pg_constraint c
LEFT JOIN pg_class r ON r.oid = c.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE c.conrelid = %s AND c.contype IN ('p', 'u', 'f', 'c')
ORDER BY c.conname
"""
_INDEXES_SQL = """
SELECT ic.relname, i.indisunique, i.indisprimary, i.indpred IS NOT NULL, i.indexrelid,
       CASE WHEN i.indpred IS NOT NULL OR i.indexprs IS NOT NULL THEN pg_get_indexdef(i.indexrelid) END,
       ARRAY(SELECT CASE WHEN k.num = 0 THEN pg_get_indexdef(i.indexrelid, k.pos::int, true)
                         ELSE (SELECT a.attname FROM pg_attribute a
                               WHERE a.attrelid = i.indrelid AND a.attnum = k.num) END
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, pos)
             WHERE k.pos <= i.indnkeyatts ORDER BY k.pos)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = %s
ORDER BY ic.relname
"""
# Sequences owned by a column (serial, OWNED BY) or backing an identity column.
_SEQUENCES_SQL = """
SELECT s.relname, a.attname, ps.increment_by, sn.nspname, ps.start_value, ps.last_value,
       has_sequence_privilege(s.oid, 'SELECT')
FROM pg_depend dep
JOIN pg_class s ON s.oid = dep.objid AND s.relkind = 'S'
JOIN pg_attribute a ON a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid
JOIN pg_namespace sn ON sn.oid = s.relnamespace
JOIN pg_sequences ps ON ps.schemaname = sn.nspname AND ps.sequencename = s.relname
WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass
  AND dep.refobjid = %s AND dep.deptype IN ('a', 'i')
ORDER BY a.attnum
"""


def _next_value(execute: _Execute, namespace: str, sequence: str, step: int) -> int | None:
    """The value ``nextval`` would hand out. Read from the sequence itself: after ``setval(s, n,
    false)`` or ``ALTER SEQUENCE ... RESTART WITH n`` the catalog view shows no last value, yet the
    next value is n, not the start value."""
    name = ".".join('"' + part.replace('"', '""') + '"' for part in (namespace, sequence))
    rows = execute(f"SELECT last_value, is_called FROM {name}")
    if not rows:
        return None
    last, called = rows[0]
    return int(last) + int(step) if called else int(last)


def _read_table_schema(execute: _Execute, *, schema: str, table: str) -> TableSchema | None:
    found = execute(
        "SELECT c.oid, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
        (schema, table),
    )
    if not found:
        return None
    oid, reltuples = found[0]
    columns = tuple(_column(execute, row) for row in execute(_COLUMNS_SQL, (oid,)))
    primary_key: tuple[str, ...] = ()
    uniques: list[UniqueConstraint] = []
    foreign_keys: list[ForeignKey] = []
    checks: list[CheckConstraint] = []
    constraint_indexes: set[int] = set()
    for name, kind, cols, ref_cols, ref_schema, ref_table, definition, index_oid in execute(
        _CONSTRAINTS_SQL, (oid,)
    ):
        if kind == "p":
            primary_key = tuple(cols)
        elif kind == "u":
            uniques.append(UniqueConstraint(name=name, columns=tuple(cols)))
            constraint_indexes.add(index_oid)
        elif kind == "f":
            target = ref_table if ref_schema == schema else f"{ref_schema}.{ref_table}"
            foreign_keys.append(ForeignKey(name, tuple(cols), target, tuple(ref_cols)))
        else:
            checks.append(CheckConstraint(name=name, expression=re.sub(r"^CHECK ", "", definition)))
    for column, domain, name, definition in execute(_DOMAIN_CHECKS_SQL, (oid,)):
        checks.append(CheckConstraint(name=f"{domain}.{name}", expression=_domain_check(definition, column)))
    indexes: list[Index] = []
    for name, unique, primary, partial, index_oid, definition, cols in execute(_INDEXES_SQL, (oid,)):
        if primary:
            continue
        indexes.append(Index(name=name, columns=tuple(cols), unique=bool(unique), definition=definition))
        # A unique index is a uniqueness guarantee like a constraint; a partial one is not.
        if unique and not partial and index_oid not in constraint_indexes:
            uniques.append(UniqueConstraint(name=name, columns=tuple(cols)))
    sequences = tuple(
        SequenceInfo(
            name=seq,
            column=col,
            next_value=_next_value(execute, namespace, seq, step)
            if readable
            else (start if last is None else last + step),
        )
        for seq, col, step, namespace, start, last, readable in execute(_SEQUENCES_SQL, (oid,))
    )
    return TableSchema(
        name=table,
        columns=columns,
        primary_key=primary_key,
        unique_constraints=tuple(uniques),
        foreign_keys=tuple(foreign_keys),
        check_constraints=tuple(checks),
        indexes=tuple(indexes),
        sequences=sequences,
        row_count_estimate=int(reltuples) if reltuples is not None and reltuples >= 0 else None,
        extra={"schema": schema},
    )


def _domain_check(definition: str, column: str) -> str:
    """A domain's CHECK written for its column: VALUE (outside string literals) becomes the name."""
    name = column if re.fullmatch(r"[a-z_][a-z0-9_$]*", column) else '"' + column.replace('"', '""') + '"'
    parts = re.split(r"('(?:[^']|'')*')", re.sub(r"^CHECK ", "", definition))
    return "".join(part if k % 2 else re.sub(r"\bVALUE\b", name, part) for k, part in enumerate(parts))


def _column(execute: _Execute, row: tuple[Any, ...]) -> Column:
    name, data_type, not_null, default, identity, base, typtype, type_oid, typmod = row
    family, precision = _FAMILIES.get(base, (TypeFamily.OTHER, None))
    length = scale = None
    enum_values: tuple[str, ...] | None = None
    if typtype == "e":
        family = TypeFamily.ENUM
        labels = execute(
            "SELECT enumlabel FROM pg_enum WHERE enumtypid = %s ORDER BY enumsortorder", (type_oid,)
        )
        enum_values = tuple(str(label) for (label,) in labels)
    elif family is TypeFamily.DECIMAL and typmod is not None and typmod >= 4:
        precision, scale = (typmod - 4) >> 16, (typmod - 4) & 0xFFFF
    elif base in {"varchar", "bpchar"} and typmod is not None and typmod >= 4:
        length = typmod - 4
    elif base in {"time", "timetz", "timestamp", "timestamptz", "interval"}:
        # Without a declared precision PostgreSQL keeps microseconds.
        precision = typmod & 0xFFFF if typmod is not None and typmod >= 0 else 6
        if base == "interval":
            precision = precision if precision <= 6 else 6
    is_identity = identity in ("a", "d") or (default is not None and str(default).startswith("nextval("))
    return Column(
        name=name,
        data_type=data_type,
        family=family,
        nullable=not not_null,
        default=default,
        length=length,
        precision=precision,
        scale=scale,
        enum_values=enum_values,
        identity=is_identity,
        element=_array_element(execute, name, type_oid, typmod) if str(base).startswith("_") else None,
    )


# An array type's element, resolved through a domain; the column's type modifier is the element's.
_ARRAY_ELEMENT_SQL = """
SELECT format_type(e.oid, %s), coalesce(bt.typname, e.typname), coalesce(bt.typtype, e.typtype),
       coalesce(bt.oid, e.oid)
FROM pg_type a
JOIN pg_type e ON e.oid = a.typelem
LEFT JOIN pg_type bt ON e.typtype = 'd' AND bt.oid = e.typbasetype
WHERE a.oid = %s AND a.typcategory = 'A'
"""


def _array_element(execute: _Execute, name: str, type_oid: int, typmod: int | None) -> Column | None:
    """The element of an array column. The type cannot say how many dimensions a value has: one
    with more than one is told apart when compared (``pm_pipeline.core.canonical.arrays``)."""
    found = execute(_ARRAY_ELEMENT_SQL, (typmod if typmod is not None else -1, type_oid))
    if not found:
        return None
    data_type, element_base, typtype, element_oid = found[0]
    return _column(execute, (name, data_type, False, None, "", element_base, typtype, element_oid, typmod))
