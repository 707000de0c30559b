# Over 300 lines: one engine's whole connector (connection, introspection, type families, Arrow reads, timeouts) in one place, as every engine has it.
"""SQLite connector (``sqlite:///rel.db``, ``sqlite:////abs.db``) over the standard library's sqlite3.

The file is opened through a read-only ``file:...?mode=ro`` URI and never created; only
:meth:`SqliteConnector.transaction` opens a read-write connection.

SQLite is dynamically typed: a column declared ``DECIMAL(12,2)`` may hold the text ``'12.50'``,
the real ``12.5`` or the integer ``1250``. Rows are streamed with ``fetchmany`` and each Arrow
column gets a type chosen from the column's declared type (its :class:`TypeFamily`):

* INTEGER and BOOLEAN -> int64 (booleans as stored, 0/1), FLOAT -> float64, BINARY -> binary;
* DECIMAL, TEXT, DATE, TIME, TIMESTAMP(TZ), JSON and UUID -> **text**, the value as stored: text as
  written, an integer in decimal digits, a real as ``repr(float)`` (the shortest text that reads
  back as the same double), a blob as ``\\x`` + hex. The canonical layer parses text by family.
* a column without a recognised type (OTHER) takes the native type of what it holds.

Before streaming, one aggregate query (``typeof``) finds the storage classes each
natively-typed column really holds; a column holding anything else (a string in an INTEGER
column) comes back as text instead of failing, for the whole stream, so every batch has the
same schema. Free-form queries (no declared types) are typed the same way from their result.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from pm_pipeline.core.connectors.base import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_TIMEOUTS,
    ConnectionUrl,
    Connector,
    Timeouts,
    query_table,
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
from pm_pipeline.core.dialects.sqlite import SqliteDialect
from pm_pipeline.core.errors import BadInputError, ConnectionFailure, TableNotFoundError

F = TypeFamily
_NAMED_FAMILIES = [
    (("DECIMAL", "NUMERIC"), F.DECIMAL),
    (("BOOLEAN", "BOOL"), F.BOOLEAN),
    (("DATETIME", "TIMESTAMP"), F.TIMESTAMP),
    (("DATE",), F.DATE),
    (("TIME",), F.TIME),
    (("JSON",), F.JSON),
    (("UUID",), F.UUID),
]
_TEXT_FAMILIES = {F.DECIMAL, F.TEXT, F.DATE, F.TIME, F.TIMESTAMP, F.TIMESTAMPTZ, F.JSON, F.UUID}
# family -> (Arrow type, storage classes that fit it)
_NATIVE: dict[TypeFamily, tuple[pa.DataType, frozenset[str]]] = {
    F.INTEGER: (pa.int64(), frozenset({"integer"})),
    F.BOOLEAN: (pa.int64(), frozenset({"integer"})),
    F.FLOAT: (pa.float64(), frozenset({"integer", "real"})),
    F.BINARY: (pa.binary(), frozenset({"blob"})),
}
_BY_CLASSES: dict[frozenset[str], pa.DataType] = {
    frozenset({"integer"}): pa.int64(),
    frozenset({"real"}): pa.float64(),
    frozenset({"integer", "real"}): pa.float64(),
    frozenset({"blob"}): pa.binary(),
}


# Integer widths by declared name. SQLite stores every integer in up to 64 bits, but the declared
# name is what the schema promised and what a migration maps (SMALLINT -> smallint): the width
# comes from it, and the 64-bit storage only when the name says nothing ("INT" inside another word).
_INT_BITS = {
    "TINYINT": 8, "SMALLINT": 16, "INT2": 16, "MEDIUMINT": 24, "INT": 32, "INTEGER": 32, "INT4": 32,
    "BIGINT": 64, "INT8": 64,
}  # fmt: skip
_STORAGE_BITS = 64


def _int_bits(words: list[str]) -> int:
    if "BIG" in words and "INT" in words:  # UNSIGNED BIG INT, SQLite's own example of a declared type
        return 64
    return next((_INT_BITS[word] for word in words if word in _INT_BITS), _STORAGE_BITS)


def sqlite_column_type(declared: str) -> tuple[TypeFamily, int | None, int | None, int | None]:
    """(family, length, precision, scale) of a declared type: the declared name first (its width,
    digits and fractional seconds), SQLite's affinity rules for names it does not know."""
    upper = declared.strip().upper()
    base = re.split(r"[\s(]", upper, maxsplit=1)[0]
    words = re.findall(r"[A-Z0-9_]+", upper)
    args = [int(n) for n in re.findall(r"\d+", upper[upper.find("(") :])] if "(" in upper else []
    for names, family in _NAMED_FAMILIES:
        if base in names:
            if family is F.DECIMAL:
                return (
                    family,
                    None,
                    args[0] if args else None,
                    args[1] if len(args) > 1 else (0 if args else None),
                )
            if family is F.TIMESTAMP and "ZONE" in words and "WITHOUT" not in words:
                family = F.TIMESTAMPTZ
            fraction = args[0] if args and family in (F.TIME, F.TIMESTAMP, F.TIMESTAMPTZ) else None
            return family, None, fraction, None
    if "INT" in upper:
        return F.INTEGER, None, _int_bits(words), None
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return F.TEXT, args[0] if args else None, None, None
    if "BLOB" in upper:
        return F.BINARY, None, None, None
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return F.FLOAT, None, 53, None
    return F.OTHER, None, None, None


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    return repr(value) if isinstance(value, float) else str(value)


def _tokens(sql: str) -> Iterator[tuple[str, int, int]]:
    """(token, start, end) of CREATE TABLE text: words, quoted names, strings and single characters."""
    i = 0
    while i < len(sql):
        ch = sql[i]
        if ch.isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = len(sql) if end < 0 else end + 2
        elif ch in "'\"`[":
            close = "]" if ch == "[" else ch
            j = i + 1
            while j < len(sql):
                if sql[j] == close and close != "]" and sql[j + 1 : j + 2] == close:
                    j += 2  # a doubled quote inside the quoted text
                elif sql[j] == close:
                    break
                else:
                    j += 1
            yield sql[i : j + 1], i, j + 1
            i = j + 1
        elif ch.isalnum() or ch == "_":
            j = i
            while j < len(sql) and (sql[j].isalnum() or sql[j] in "_$"):
                j += 1
            yield sql[i:j], i, j
            i = j
        else:
            yield ch, i, i + 1
            i += 1


def _unquote(name: str) -> str:
    if name[:1] in "\"`'[":
        close = "]" if name[0] == "[" else name[0]
        return name[1:-1].replace(close * 2, close) if close != "]" else name[1:-1]
    return name


def parse_create_table(sql: str) -> tuple[list[CheckConstraint], bool, bool]:
    """CHECK constraints, AUTOINCREMENT and WITHOUT ROWID read from a table's CREATE TABLE text."""
    tokens = list(_tokens(sql))
    checks: list[CheckConstraint] = []
    words = [tok.upper() for tok, _, _ in tokens]
    for k, word in enumerate(words):
        if word != "CHECK" or k + 1 >= len(tokens) or tokens[k + 1][0] != "(":
            continue
        depth, end = 0, k + 1
        for end in range(k + 1, len(tokens)):
            depth += {"(": 1, ")": -1}.get(tokens[end][0], 0)
            if depth == 0:
                break
        name = _unquote(tokens[k - 1][0]) if k >= 2 and words[k - 2] == "CONSTRAINT" else None
        checks.append(CheckConstraint(name=name, expression=sql[tokens[k + 1][2] : tokens[end][1]].strip()))
    without_rowid = any(words[k : k + 2] == ["WITHOUT", "ROWID"] for k in range(len(words)))
    return checks, "AUTOINCREMENT" in words, without_rowid


_NO_LIMIT_SECONDS = 365 * 86400.0


class SqliteConnector(Connector):
    engine = "sqlite"
    dialect = SqliteDialect()

    def __init__(self, url: ConnectionUrl, *, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> None:
        super().__init__(url, timeouts=timeouts)
        if not url.path:
            raise BadInputError(
                f"connection URL {url.masked}: expected sqlite:///file.db or sqlite:////abs/file.db"
            )
        self.path = url.path
        if self.path == ":memory:":
            self._uri = ":memory:"
        else:
            file = Path(self.path)
            if not file.is_file():
                what = "is a directory, not" if file.is_dir() else "does not exist; expected"
                raise BadInputError(
                    f"SQLite database {file} {what} an existing database file (sources are never created)"
                )
            self._uri = file.resolve().as_uri()
        self._conn = self._open("ro")
        try:
            if self._uri != ":memory:":
                # mode=ro covers the file; query_only also covers any database ATTACHed to it.
                self._conn.execute("PRAGMA query_only = ON")
            self._conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if "database is locked" in str(exc):
                raise ConnectionFailure(
                    f"cannot open SQLite database {self.path}: database is locked (another connection "
                    f"writes to the file; waited timeouts.lock: {timeouts.lock:g} s)"
                ) from None
            raise BadInputError(f"{self.path} is not a readable SQLite database: {exc}") from exc

    def _open(self, mode: str) -> sqlite3.Connection:
        target = self._uri if self._uri == ":memory:" else f"{self._uri}?mode={mode}"
        try:
            # A reader waits for a writer's lock (a rollback journal's commit) up to timeouts.lock.
            busy = self.timeouts.lock or _NO_LIMIT_SECONDS
            return sqlite3.connect(
                target, uri=True, isolation_level=None, check_same_thread=False, timeout=busy
            )
        except sqlite3.Error as exc:
            raise ConnectionFailure(f"cannot open SQLite database {self.path}: {exc}") from exc

    def close(self) -> None:
        self._conn.close()

    # -- metadata ----------------------------------------------------------------------------
    def server_version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    exact_count_bytes = 256 * 2**20  # databases up to this size have their tables counted exactly

    def estimate_rows(self, table: str) -> int | None:
        # count(*) walks the table's smallest b-tree; in a large file ANALYZE's statistics, when
        # present, answer without reading it.
        small = self.path == ":memory:" or Path(self.path).stat().st_size <= self.exact_count_bytes
        if not small and self.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"):
            # One row per index, each starting with the rows it covers (fewer for a partial index).
            stat = self.execute(
                "SELECT max(CAST(stat AS INTEGER)) FROM sqlite_stat1 WHERE tbl = ? COLLATE NOCASE", [table]
            )
            if stat and stat[0][0] is not None:
                return int(stat[0][0])
        return self.row_count(table)

    def list_tables(self) -> list[str]:
        rows = self.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY name"
        )
        return [str(row[0]) for row in rows]

    def introspect(self, table: str) -> TableSchema:
        found = self.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE", [table]
        )
        if not found:
            raise TableNotFoundError(f"table {table!r} not found in {self.describe()}")
        name, create_sql = str(found[0][0]), str(found[0][1] or "")
        checks, autoincrement, without_rowid = parse_create_table(create_sql)
        info = self.execute(
            'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid', [name]
        )
        primary = tuple(str(row[0]) for row in sorted((r for r in info if r[4]), key=lambda r: int(r[4])))
        rowid_alias = (
            primary[0]
            if len(primary) == 1
            and not without_rowid
            and next(str(r[1]) for r in info if r[0] == primary[0]).strip().upper() == "INTEGER"
            else None
        )
        columns = []
        for col_name, declared, notnull, default, pk in info:
            family, length, precision, scale = sqlite_column_type(str(declared or ""))
            columns.append(
                Column(
                    name=str(col_name),
                    data_type=str(declared or ""),
                    family=family,
                    nullable=not (notnull or col_name == rowid_alias or (without_rowid and pk)),
                    default=None if default is None else str(default),
                    length=length,
                    precision=precision,
                    scale=scale,
                    identity=col_name == rowid_alias,
                    unsigned=family is F.INTEGER and "UNSIGNED" in str(declared or "").upper(),
                    # Dates are text here: a zero date ('0000-00-00') loaded from MariaDB stays.
                    zero_dates=family in (F.DATE, F.TIMESTAMP, F.TIMESTAMPTZ),
                )
            )
        return TableSchema(
            name=name,
            columns=tuple(columns),
            primary_key=primary,
            check_constraints=tuple(checks),
            foreign_keys=self._foreign_keys(name),
            **self._indexes(name),
            sequences=self._sequences(name, rowid_alias, autoincrement),
            extra={"without_rowid": str(without_rowid).lower()},
        )

    def _foreign_keys(self, table: str) -> tuple[ForeignKey, ...]:
        grouped: dict[int, list[tuple[Any, ...]]] = {}
        for row in self.execute(
            'SELECT id, seq, "table", "from", "to" FROM pragma_foreign_key_list(?) ORDER BY id, seq', [table]
        ):
            grouped.setdefault(int(row[0]), []).append(row)
        keys = []
        for rows in grouped.values():
            rows.sort(key=lambda r: int(r[1]))
            ref_table = str(rows[0][2])
            ref_cols = [r[4] for r in rows]
            if any(col is None for col in ref_cols):  # REFERENCES parent with no column list: its PK
                ref_cols = [
                    r[0]
                    for r in self.execute(
                        "SELECT name FROM pragma_table_info(?) WHERE pk ORDER BY pk", [ref_table]
                    )
                ]
            keys.append(
                ForeignKey(None, tuple(str(r[3]) for r in rows), ref_table, tuple(str(c) for c in ref_cols))
            )
        return tuple(keys)

    def _indexes(self, table: str) -> dict[str, Any]:
        uniques, indexes = [], []
        for index_name, unique, origin, partial in self.execute(
            'SELECT name, "unique", origin, partial FROM pragma_index_list(?) ORDER BY name', [table]
        ):
            cols = tuple(
                str(r[0]) if r[0] is not None else "<expression>"
                for r in self.execute("SELECT name FROM pragma_index_info(?) ORDER BY seqno", [index_name])
            )
            if origin == "u":
                uniques.append(UniqueConstraint(name=None, columns=cols))
            elif origin == "c":
                definition = None
                if partial or "<expression>" in cols:
                    # Its columns alone would be another index: keep the statement that made it.
                    sql = self.execute(
                        "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", [index_name]
                    )
                    definition = str(sql[0][0]) if sql and sql[0][0] else None
                indexes.append(
                    Index(name=str(index_name), columns=cols, unique=bool(unique), definition=definition)
                )
        return {"unique_constraints": tuple(uniques), "indexes": tuple(indexes)}

    def _sequences(
        self, table: str, rowid_alias: str | None, autoincrement: bool
    ) -> tuple[SequenceInfo, ...]:
        if rowid_alias is None:
            return ()
        top = self.execute(f"SELECT max(rowid) FROM {self.quote(table)}")[0][0]
        used = int(top) if top is not None else 0
        if autoincrement:
            # AUTOINCREMENT hands out one more than the largest rowid ever used, kept in sqlite_sequence.
            seq = (
                self.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", [table])
                if self._has_sequence_table()
                else []
            )
            used = max(used, int(seq[0][0]) if seq and seq[0][0] is not None else 0)
        next_value = used + 1 if used < 2**63 - 1 else None  # at the maximum SQLite picks a random free rowid
        return (
            SequenceInfo(name=table if autoincrement else "rowid", column=rowid_alias, next_value=next_value),
        )

    def _has_sequence_table(self) -> bool:
        return bool(self.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"))

    # -- reading -----------------------------------------------------------------------------
    def _run(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, tuple(params))
        except sqlite3.OperationalError as exc:
            if str(exc).startswith("no such table"):
                raise TableNotFoundError(f"{self.describe()}: {exc}") from exc
            raise

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._bounded(sql):
            return list(self._run(sql, params).fetchall())

    @contextlib.contextmanager
    def _bounded(self, sql: str) -> Iterator[None]:
        """Interrupt a statement running past ``timeouts.statement``: an embedded engine has no
        server to end it."""
        limit = self.timeouts.statement or None
        with watchdog(limit, self._conn.interrupt) as expired:
            try:
                yield
            except sqlite3.OperationalError as exc:
                if expired() and "interrupt" in str(exc):
                    raise statement_too_long(self.describe(), limit, sql) from None
                if "database is locked" in str(exc):
                    table = query_table(sql)
                    on = f" on table {table}" if table else ""
                    raise ConnectionFailure(
                        f"{self.describe()}: the query{on} gave up: database is locked (another "
                        f"connection writes to the file; waited timeouts.lock: {self.timeouts.lock:g} s)"
                    ) from None
                raise
        if expired():
            # Interrupted as the block ended: with a cursor still open, SQLite keeps the interrupt
            # for the next step, which would fail as a bare error. The deadline did pass: say so.
            raise statement_too_long(self.describe(), limit, sql)

    def stream_query(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        families: Sequence[TypeFamily] | None = None,
        scan_from: str | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Stream ``sql``; ``families`` (one per result column) come from the declared types.

        ``scan_from`` is the FROM clause the storage-class scan runs on (the whole table for table
        reads, so every chunk of a keyed fetch gets the same schema); by default the query itself.
        """
        return self.paced(self._stream_query(sql, params, batch_rows, families, scan_from))

    def _stream_query(
        self,
        sql: str,
        params: Sequence[Any],
        batch_rows: int,
        families: Sequence[TypeFamily] | None,
        scan_from: str | None,
    ) -> Iterator[pa.RecordBatch]:
        with self._bounded(sql):
            cursor = self._run(sql, params)
        try:
            names = [str(d[0]) for d in cursor.description or ()]
            fams = list(families) if families is not None else [F.OTHER] * len(names)
            types = self._arrow_types(names, fams, scan_from or f"({sql})", () if scan_from else params)
            schema = pa.schema([pa.field(name, typ) for name, typ in zip(names, types, strict=True)])
            while True:
                with self._bounded(sql):  # per batch: the caller's time between batches is its own
                    rows = cursor.fetchmany(batch_rows)
                if not rows:
                    return
                yield pa.RecordBatch.from_arrays(
                    [
                        self._array(name, values, typ)
                        for name, values, typ in zip(names, zip(*rows, strict=True), types, strict=True)
                    ],
                    schema=schema,
                )
        finally:
            cursor.close()

    def _arrow_types(
        self, names: list[str], families: list[TypeFamily], scan_from: str, params: Sequence[Any]
    ) -> list[pa.DataType]:
        types: list[pa.DataType | None] = [pa.string() if f in _TEXT_FAMILIES else None for f in families]
        to_scan = [k for k, typ in enumerate(types) if typ is None]
        if to_scan and len(set(names)) == len(names):
            scan = ", ".join(f"group_concat(DISTINCT typeof({self.quote(names[k])}))" for k in to_scan)
            found = self.execute(f"SELECT {scan} FROM {scan_from}", params)[0]
            for k, classes_text in zip(to_scan, found, strict=True):
                classes = frozenset(str(classes_text or "").split(",")) - {"", "null"}
                native = _NATIVE.get(families[k])
                if native is not None:
                    types[k] = native[0] if classes <= native[1] else pa.string()
                else:
                    types[k] = _BY_CLASSES.get(classes, pa.string())
        return [typ or pa.string() for typ in types]

    def _array(self, name: str, values: Sequence[Any], typ: pa.DataType) -> pa.Array:
        if typ == pa.string():
            return pa.array([_as_text(v) for v in values], type=typ)
        try:
            return pa.array(values, type=typ)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise ConnectionFailure(
                f"{self.describe()}: column {name!r} changed storage class while being read ({exc}); rerun"
            ) from exc

    def stream_columns(
        self,
        sql: str,
        params: Sequence[Any],
        *,
        table: str,
        columns: Sequence[Column],
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> Iterator[pa.RecordBatch]:
        # Typed from the declared types, with the storage-class scan over the whole table, so that
        # every chunk of a keyed fetch gets the same schema.
        return self.stream_query(
            sql,
            params,
            batch_rows=batch_rows,
            families=[col.family for col in columns],
            scan_from=self.qualified(table),
        )

    def key_condition(
        self, key_columns: Sequence[Column], keys: Sequence[tuple[Any, ...]]
    ) -> tuple[str, list[Any]]:
        # The right-hand side of a row-value IN must be a subquery: a VALUES list.
        key_list = "(" + ", ".join(self.quote(col.name) for col in key_columns) + ")"
        row = "(" + ", ".join("?" * len(key_columns)) + ")"
        condition = f"{key_list} IN (VALUES {', '.join([row] * len(keys))})"
        return condition, [value for key in keys for value in key]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[_Writer]:
        """A write transaction (BEGIN IMMEDIATE) on its own read-write connection."""
        self.refuse_writes_on_source()
        conn = self._conn if self._uri == ":memory:" else self._open("rw")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _Writer(conn, self.describe())
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            if conn is not self._conn:
                conn.close()


class _Writer:
    """What :meth:`SqliteConnector.transaction` yields: ``execute(sql, params)`` inside the transaction."""

    def __init__(self, conn: sqlite3.Connection, where: str) -> None:
        self._conn = conn
        self._where = where

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return list(self._conn.execute(sql, tuple(params)).fetchall())
        except sqlite3.Error as exc:
            raise write_failure(self._where, sql, exc) from exc
