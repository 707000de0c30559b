# Over 300 lines: the one protocol every engine's dialect fills: all five sections, each with its defaults.
"""The Dialect protocol: how an engine spells what the checks need, with no connection.

Sections, each filled by the engines that support it (``None`` or ``NotImplementedError`` where
an engine has no such thing):

* names: quoting, qualified names, parameter placeholder;
* canonical text and hashes (reconciliation, checksums): primitives the family tree in
  ``pm_pipeline.core.canonical.sqltext`` is written over;
* integrity and schema: text and length functions, type spellings;
* rollback: restore statements;
* performance: plan and statistics queries.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from pm_pipeline.core.connectors.base import ConnectionUrl
    from pm_pipeline.core.connectors.schema import Column


@dataclass(frozen=True)
class StatementStatistics:
    """Where a server keeps the statistics of the statements it ran, and how to read them."""

    product: str  # the servers that keep them, as messages name them
    kept_in: str  # what keeps them, as messages name it
    enabled_query: str  # its first value is non-zero when the server keeps them
    disabled: str  # after "the source ": why it keeps none, and how to make it keep them
    # (id, normalised text) rows of the database's SELECT statements, most total time first; one
    # parameter, the number of rows.
    top_query: str
    placeholder: str  # the regular expression of a parameter in a normalised text
    name_prefix: str  # of a captured statement's name, before its id or the hash of its text
    # One text is kept under several ids (one per parameter type a driver binds): name it by its text.
    names_by_text: bool
    # A failing ``top_query`` is the source's configuration (bad input), not a failure of the run.
    unreadable_is_bad_input: bool
    # Regular expressions of the catalogs and extensions that pm-pipeline's own statements
    # (introspection, counters, proofs) read, which are not the application's workload.
    catalogs: tuple[str, ...]
    # Regular expressions of the functions by which a SELECT writes or locks (a sequence, a lock).
    writing_functions: tuple[str, ...]


class Dialect:
    """One engine's SQL, connection-free. Subclasses set ``name`` and override what differs."""

    name: ClassVar[str] = ""
    placeholder: ClassVar[str] = "?"

    # -- names -------------------------------------------------------------------------------
    def quote(self, identifier: str) -> str:
        """An identifier, quoted (embedded quotes doubled)."""
        return '"' + identifier.replace('"', '""') + '"'

    def qualified(self, table: str, schema: str | None = None) -> str:
        """The quoted name of a table, in ``schema`` when the engine has schemas and one is given."""
        return self.quote(table) if not schema else f"{self.quote(schema)}.{self.quote(table)}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    # -- canonical text and hashes -----------------------------------------------------------
    # The family -> SQL tree of canonical text is written once, over these primitives, in
    # ``pm_pipeline.core.canonical.sqltext``. ``expr`` is a column name or a parenthesised value.

    # The engine whose SQL computes this engine's row hashes (checksum manifests record its
    # name); None: rows are hashed on our side.
    row_hash_dialect: ClassVar[str | None] = None
    # Same-engine pairs with identical column types may hash typed values (``native_row_hash``).
    has_native_row_hash: ClassVar[bool] = False
    # Hashing rows in SQL costs more than sending their values: the automatic strategy reads values.
    hashes_slowly: ClassVar[bool] = False
    # A BOOLEAN column holds integers; its canonical text is that of an integer flag.
    booleans_are_integers: ClassVar[bool] = False
    # Floating-point values may be NaN or ±infinity.
    has_nan_and_infinity: ClassVar[bool] = False
    # Arrays or lists with functions over their elements (``list_json_text``); else lists are text.
    has_list_functions: ClassVar[bool] = False
    list_element: ClassVar[str] = ""  # what an element is called inside ``list_json_text``
    # JSON escapes of control characters an engine may write in upper case; Python writes lower.
    upper_json_escapes: ClassVar[tuple[str, ...]] = tuple(
        f"\\u00{code:02X}" for code in (0x0B, 0x0E, 0x0F, *range(0x1A, 0x20))
    )

    def _no(self, what: str) -> NotImplementedError:
        return NotImplementedError(f"{self.name or 'this engine'}: no {what} in SQL")

    def renders_canonically(self, data_type: str) -> bool:
        """Whether a column of this (lower-case) declared type has a canonical text in SQL at all."""
        return True

    def integer_text(self, expr: str, data_type: str) -> str:
        """An integer column's decimal digits, as the driver reads the value."""
        raise self._no("integer text")

    def decimal_text(self, expr: str) -> str:
        """A decimal's normalised text: no trailing fractional zeros nor '.', '-0' as '0'."""
        raise self._no("decimal text")

    def decimal_as_text(self, expr: str) -> str:
        """A decimal compared as text: its text rendering, scale kept (the driver reads it so)."""
        return self.text_cast(expr)

    def plain_text(self, expr: str) -> str:
        """A text or enum value's characters."""
        raise self._no("text")

    def unpadded_text(self, expr: str) -> str:
        """A CHAR(n) value's characters without the padding spaces."""
        raise self._no("unpadded text")

    def uuid_text(self, expr: str) -> str:
        """A UUID's lower-case text."""
        raise self._no("UUID text")

    def uuid_from_text(self, expr: str, white_space: tuple[int, ...]) -> str:
        """Text read as a UUID: lower case, trimmed of the ``white_space`` code points."""
        raise self._no("UUID from text")

    def boolean_text(self, expr: str) -> str:
        """A boolean as 'true' / 'false'."""
        return f"CASE WHEN {expr} IS NULL THEN NULL WHEN {expr} THEN 'true' ELSE 'false' END"

    def date_text(self, expr: str) -> str:
        """A date as Arrow writes it: 'YYYY-MM-DD', years before 1 as '0000' / '-0043', ±infinity."""
        raise self._no("date text")

    def instant_text(self, expr: str, *, data_type: str, family: str, infinite: str, zero: str) -> str | None:
        """A UTC timestamp or date (``family``) as microseconds since the epoch; ±infinity as
        ±``infinite``, a zero date as ``zero``. None where the type cannot be rendered."""
        raise self._no("instant text")

    def hex_text(self, expr: str) -> str:
        """Bytes as lower-case hex."""
        raise self._no("hex text")

    def concat(self, *parts: str) -> str:
        """The texts ``parts`` joined."""
        return " || ".join(parts)

    def number_operand(self, expr: str) -> str:
        """A number as an operand of ``concat`` (engines that convert it themselves take it as is)."""
        return expr

    def md5_bigint60(self, text: str) -> str:
        """The first 15 hex digits of the MD5 of ``text`` (UTF-8), as a non-negative BIGINT."""
        raise self._no("MD5")

    def native_row_hash(self, expressions: Sequence[str], types: Sequence[str | None], *, mask: int) -> str:
        """A hash of typed values with the engine's own hash functions, ANDed with ``mask``."""
        raise ValueError(f"no native row hash in {self.name}")

    def int_div(self, dividend: str, divisor: int) -> str:
        """Integer division of a non-negative BIGINT."""
        raise self._no("integer division")

    def double(self, expr: str) -> str:
        """``expr`` as a double precision number."""
        return f"CAST({expr} AS DOUBLE)"

    def to_bigint(self, expr: str) -> str:
        return f"CAST({expr} AS BIGINT)"

    def to_int(self, expr: str) -> str:
        return f"CAST({expr} AS INTEGER)"

    def power10(self, exponent: str) -> str:
        """10 to the power ``exponent``, as a double."""
        return f"pow(10, {exponent})"

    def is_nan(self, expr: str) -> str:
        raise self._no("NaN")

    def is_infinite(self, expr: str) -> str:
        raise self._no("infinity")

    def text_literal(self, text: str) -> str:
        """A string literal holding ``text``, read the same in every session mode."""
        return "'" + text.replace("'", "''") + "'"

    def list_json_text(self, expr: str, element: str, *, separator: str | None, ordered: bool) -> str:
        """The JSON array of a list's element texts (``element``: SQL over ``list_element``), or of
        a text split at ``separator``; distinct and in code point order unless ``ordered``."""
        raise self._no("list functions")

    def text_list_json(self, expr: str, text: str, separator: str) -> str:
        """The JSON array of the ordered elements of ``text`` (``expr``'s text) split at
        ``separator``, which JSON does not escape, without splitting it."""
        raise self._no("text list")

    def set_json_text(self, expr: str, members: Sequence[tuple[int, str]]) -> str | None:
        """The JSON array of a SET's members: (bit of the member, its JSON text), in array order."""
        return None

    def record_hash(self, alias: str, columns: Callable[[], Sequence[str]]) -> str | None:
        """An integer hash of each row of table alias ``alias`` (``columns``: its quoted column
        names), for fingerprints compared only with the same engine's; None if the engine has none."""
        return None

    # -- integrity and schema ----------------------------------------------------------------
    # Fractional-second digits of a time or timestamp whose declaration does not say (None: any).
    default_fractional_digits: ClassVar[int | None] = None
    # An instant (the timestamptz family) is read as its UTC wall time, without a zone.
    instants_read_as_utc_wall_time: ClassVar[bool] = False
    # Bits of an integer column whose declared type names no width (None: unknown).
    default_integer_bits: ClassVar[int | None] = None
    # The values a YEAR column holds, where the engine has that type.
    year_range: ClassVar[tuple[int, int] | None] = None
    # Mantissa bits of a type declared REAL, and of one declared FLOAT without a precision.
    real_bits: ClassVar[int] = 24
    unsized_float_bits: ClassVar[int] = 53
    # Declared types whose values belong to another family than the one their name gives, as
    # (rule id, pattern on the lower-cased declared type, TypeFamily value, why).
    type_spellings: ClassVar[tuple[tuple[str, str, str, str], ...]] = ()

    def byte_length(self, expr: str) -> str:
        """The length of binary ``expr`` in bytes."""
        raise NotImplementedError(f"{self.name or 'this engine'}: no byte length")

    # A table's schema is a namespace inside the database the URL names (MariaDB's is the database).
    has_schemas: ClassVar[bool] = False
    # A value keeps the type it was written with, whatever the column declares (SQLite's
    # affinities): dates are text or numbers, and compare as such.
    dynamic_typing: ClassVar[bool] = False
    # The driver reads integers, decimals, dates and text back (MIN, MAX, grouped values) exactly
    # as stored, never through a float.
    exact_aggregates: ClassVar[bool] = True
    # Date and time columns may hold zero dates ('0000-00-00').
    has_zero_dates: ClassVar[bool] = False
    # Dates and timestamps may hold ±infinity, told apart by isfinite().
    supports_infinite_timestamps: ClassVar[bool] = False
    # The driver cannot read a ±infinity date or timestamp as a value: bounds read back leave it out.
    unreadable_infinity: ClassVar[bool] = False
    # An aware datetime parameter compares with a TIMESTAMPTZ column as the instant it is;
    # elsewhere an instant binds as naive UTC wall time (sessions run in UTC).
    binds_aware_timestamps: ClassVar[bool] = False
    # The driver binds decimal.Decimal parameters.
    binds_decimals: ClassVar[bool] = True
    # The SQLAlchemy URL Great Expectations runs in SQL through (str.format fields: auth, host,
    # port, database, path), or None where it cannot run in SQL.
    sqlalchemy_url_template: ClassVar[str | None] = None
    # The Great Expectations data source for the engine: context.data_sources.add_<kind>.
    gx_data_source: ClassVar[str] = "sql"

    def char_length(self, expr: str) -> str:
        """The length of text ``expr`` in characters."""
        raise NotImplementedError(f"{self.name or 'this engine'}: no character length")

    def text_cast(self, expr: str) -> str:
        """``expr`` cast to the engine's text type."""
        raise NotImplementedError(f"{self.name or 'this engine'}: no text cast")

    def text_prefix(self, expr: str, length: int) -> str:
        """The first ``length`` characters of text ``expr``."""
        return f"LEFT({expr}, {int(length)})"

    def is_zero_date(self, quoted: str, family: str) -> str:
        """True where column ``quoted`` of ``family`` (a TypeFamily value) holds a zero date
        ('0000-00-00', with any time of day): its text starts with the zero date."""
        return f"{self.text_prefix(self.text_cast(quoted), 10)} = '0000-00-00'"

    def text_hash64(self, expr: str) -> str | None:
        """A 64-bit hash of text ``expr`` (NULL on NULL) that distinct values are counted by faster
        than by the text itself, or None. Equal texts hash alike, so no repeated hash means no
        repeated text; a repeated hash is counted again on the texts."""
        return None

    def bytewise(self, expr: str) -> str:
        """Text ``expr`` compared byte for byte, whatever its column's collation."""
        raise NotImplementedError(f"{self.name or 'this engine'}: no byte-wise comparison")

    # -- rollback ----------------------------------------------------------------------------
    # DDL runs inside a transaction and is undone with it; where each DDL statement commits on its
    # own, a restore builds shadow tables and swaps them in instead (rollback/swap.py).
    supports_transactional_ddl: ClassVar[bool] = True
    # Another connection can read the database while this one holds a write transaction (the last
    # export of changed rows then runs inside the restore transaction, else right before it).
    reads_beside_a_writer: ClassVar[bool] = True
    # Which foreign-key checks a restore session can put off until COMMIT, so that tables in a
    # foreign-key cycle can be emptied and loaded: "all", "deferrable" (those declared DEFERRABLE)
    # or "none".
    foreign_key_deferral: ClassVar[str] = "none"
    # A parent's DELETE is checked against child rows already deleted in the same transaction, so
    # a parent and its children cannot be emptied in one transaction.
    checks_deleted_children: ClassVar[bool] = False
    # Snapshots may also copy the tables into a schema of their own, in the database, for a fast
    # restore (rollback/dbcopy.py).
    supports_in_database_copies: ClassVar[bool] = False
    # ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY recreates a dropped foreign key.
    can_add_foreign_key: ClassVar[bool] = False
    # The index a foreign key needs on its columns is named after the constraint, and comes back
    # with the constraint rather than on its own.
    names_foreign_key_index_after_constraint: ClassVar[bool] = False
    # The catalog query of a table's indexes that back no constraint, as (name, CREATE INDEX ...)
    # rows; one parameter, the table's qualified name. None: indexes are rebuilt from the schema.
    index_ddl_query: ClassVar[str | None] = None
    # The catalog query of a table's primary-key, unique, foreign-key and check constraints, as
    # (name, definition, kind 'p'/'u'/'f'/'c', deferrable) rows ordered by name; one parameter, the
    # table's qualified name. None: constraints are rebuilt from the schema where they can be added.
    constraint_ddl_query: ClassVar[str | None] = None

    def url_schema(self, url: ConnectionUrl) -> str | None:
        """The schema (MariaDB: database) that the target at ``url`` qualifies table names with, as
        its connector reads it from the URL; None where table names are not qualified."""
        return None

    def select_expression(self, column: Column) -> str:
        """The SQL that reads ``column`` faithfully, as the engine's connector reads it: a dry run
        shows the statements that read the target without connecting to it."""
        return self.quote(column.name)

    def table_ddl_query(self, relation: str) -> str | None:
        """The statement whose first row's second value is the engine's own CREATE TABLE of
        ``relation``; None where the engine reports none (the DDL is then built from the schema)."""
        return None

    def restore_prelude(self, *, defer: bool) -> list[str]:
        """The statements that open a restore transaction; ``defer``: its tables form a foreign-key cycle."""
        return []

    def lock_for_restore(self, relations: list[str]) -> list[str]:
        """Statements that stop other sessions' writes to ``relations`` until the transaction ends
        (none where the transaction's own write lock already does)."""
        return []

    def restore_locks(self, tables: list[str]) -> tuple[str, ...]:
        """In words, the locks a restore of ``tables`` holds on the target, and for how long."""
        return (f"{self.name}: database write lock for the whole transaction",)

    def empty_table(self, relation: str) -> str:
        """The statement that deletes every row of ``relation`` inside a transaction."""
        return f"DELETE FROM {relation}"

    def restore_parameter(self, column: Column, placeholder: str) -> str:
        """The parameter of an INSERT that writes ``column`` back as a snapshot file holds it."""
        return placeholder

    def identity_override(self, columns: tuple[Column, ...]) -> str:
        """The clause (with its leading space) that lets an INSERT write identity ``columns`` the
        engine would otherwise generate; empty where none is needed."""
        return ""

    def insert_rows(
        self, relation: str, columns: tuple[Column, ...], rows: int, *, placeholder: str | None = None
    ) -> str:
        """An INSERT of ``rows`` rows of ``columns`` into ``relation``, one parameter per value (the
        dialect's placeholder, or ``placeholder``)."""
        mark = placeholder or self.placeholder
        names = ", ".join(self.quote(c.name) for c in columns)
        cells = ", ".join(self.restore_parameter(c, mark) for c in columns)
        values = ", ".join([f"({cells})"] * rows)
        return f"INSERT INTO {relation} ({names}){self.identity_override(columns)} VALUES {values}"

    def insert_select(self, relation: str, columns: tuple[Column, ...], source: str) -> str:
        """An INSERT into ``relation`` of every row of ``source``, which has the same ``columns``."""
        names = ", ".join(self.quote(c.name) for c in columns)
        override = self.identity_override(columns)
        return f"INSERT INTO {relation} ({names}){override} SELECT {names} FROM {source}"

    def reset_sequence(self, *, sequence: str, schema: str | None, table: str, next_value: int) -> str | None:
        """The statement after which ``sequence`` (of the table named ``table``, quoted and qualified)
        gives ``next_value`` next; None where the engine keeps no sequence a restore must reset."""
        return None

    def add_foreign_key(
        self, relation: str, name: str, columns: tuple[str, ...], parent: str, parent_columns: tuple[str, ...]
    ) -> str:
        """The statement that adds foreign key ``name`` on ``relation`` referencing table ``parent``."""
        return (
            f"ALTER TABLE {relation} ADD CONSTRAINT {self.quote(name)} "
            f"FOREIGN KEY ({', '.join(self.quote(c) for c in columns)}) "
            f"REFERENCES {self.quote(parent)} ({', '.join(self.quote(c) for c in parent_columns)})"
        )

    def foreign_key_checks_off(self) -> str:
        """The statement that turns foreign-key checks off for the rest of the session."""
        raise NotImplementedError(f"{self.name or 'this engine'}: foreign-key checks cannot be turned off")

    def swap_statement(self, moves: list[tuple[str, str]]) -> str:
        """One statement that renames every (from, to) relation of ``moves`` at once, atomically."""
        raise NotImplementedError(f"{self.name or 'this engine'}: no atomic rename of several tables")

    # Restores by swap (rollback/swap.py), where each DDL statement commits on its own.
    def trigger_query(self, schema: str, tables: Sequence[str]) -> tuple[str, tuple[object, ...]]:
        """The query (and its parameters) of the triggers on ``tables`` of ``schema``, as (table,
        trigger) rows in that order."""
        raise self._no("trigger catalog")

    def existing_tables_query(self, schema: str, tables: Sequence[str]) -> tuple[str, tuple[object, ...]]:
        """The query (and its parameters) of those of ``tables`` that exist in ``schema``, one name a row."""
        raise self._no("table catalog")

    def create_database(self, name: str) -> str:
        raise self._no("CREATE DATABASE")

    def drop_database(self, name: str) -> str:
        """The statement that drops database ``name`` with its tables, if it exists."""
        raise self._no("DROP DATABASE")

    def qualify_references(self, body: str, *, database: str, restored: Collection[str]) -> str:
        """``body``, the engine's own CREATE TABLE (``table_ddl_query``) after the table's name, with
        each foreign key onto an unqualified parent that is not in ``restored`` referencing that
        parent in ``database``."""
        raise self._no("foreign-key rewriting")

    # In-database copies (rollback/dbcopy.py), where ``supports_in_database_copies``.
    def create_schema(self, schema: str) -> str:
        raise self._no("CREATE SCHEMA")

    def drop_schema(self, schema: str) -> str:
        """The statement that drops ``schema`` with everything in it, if it exists."""
        raise self._no("DROP SCHEMA")

    def relation_exists_query(self, relation: str) -> tuple[str, tuple[object, ...]]:
        """The query (and its parameters) whose one value is not NULL when ``relation`` (quoted,
        qualified) exists."""
        raise self._no("relation lookup")

    def share_lock(self, relation: str) -> str:
        """The statement that stops writes to ``relation`` until the transaction ends; reads go on."""
        raise self._no("SHARE lock")

    def copy_fingerprint(self, relation: str, *, separator: str) -> str:
        """The query of ``relation``'s row count and a fingerprint of its rows computed by the engine
        itself: the sums of the two 64-bit halves of the MD5 of each row's text, joined by
        ``separator``. Independent of row order, a repeated row counts every time, in constant memory."""
        raise self._no("row fingerprint")

    # -- performance -------------------------------------------------------------------------
    # Where the server listens when a URL names no port; None for an engine that reads files.
    # Per-source run limits count two URLs that reach one database as one source.
    default_port: ClassVar[int | None] = None
    # A URL that names no database reaches the one named after its user (libpq's default).
    database_defaults_to_user: ClassVar[bool] = False
    # The planner reads a table by index where one serves, so a scan where the source used an
    # index is a regression (a column store scans by design).
    reads_tables_by_index: ClassVar[bool] = False
    # Hypothetical indexes (HypoPG) let the planner prove index advice before it is given.
    takes_hypothetical_indexes: ClassVar[bool] = False
    # Where the server keeps its statements' statistics (capture's top statements); None: nowhere.
    statement_statistics: ClassVar[StatementStatistics | None] = None
    # Indexes are built without blocking writes (CREATE INDEX CONCURRENTLY).
    builds_indexes_concurrently: ClassVar[bool] = False
    # The per-table counters ``table_counters`` reads, after each row's table name.
    table_counter_keys: ClassVar[tuple[str, ...]] = ()
    # Run before reading the counters so that this session's own reach them (its failure ignored).
    counters_flush: ClassVar[str | None] = None
    # The session's own counters as (name, value) rows, or None.
    session_counters: ClassVar[str | None] = None

    def explain(self, sql: str) -> str:
        """``sql`` under the EXPLAIN whose rows the engine's plan parser reads."""
        raise NotImplementedError(f"{self.name or 'this engine'}: no EXPLAIN")

    def statement_timeout(
        self, milliseconds: int, *, schema: str | None, server_version: str
    ) -> tuple[tuple[str, ...], str] | None:
        """The statements after which every statement of the session is cancelled after
        ``milliseconds``, and the one restoring the value the session had before them (the
        connector's own limit, not the server's default); None where the engine has no statement
        timeout. ``server_version`` is the connector's (products differ)."""
        return None

    def table_counters(
        self, *, schema: str | None, tables: tuple[str, ...]
    ) -> tuple[str, tuple[object, ...]] | None:
        """The query (and its parameters) reading the server's counters of ``tables``: one row per
        table, its name then one value per ``table_counter_keys``; None where the server keeps none."""
        return None

    # Index advice proven with HypoPG (perf/advice.py), where ``takes_hypothetical_indexes``.
    def hypothetical_index_schema_query(self) -> str:
        """The query of the schema holding the HypoPG extension: one row, its name, if installed."""
        raise self._no("hypothetical indexes")

    def hypothetical_index_available_query(self) -> str:
        """A query with a row when the HypoPG extension can be installed."""
        raise self._no("hypothetical indexes")

    def install_hypothetical_indexes(self) -> str:
        """The statement that installs the HypoPG extension unless it is installed."""
        raise self._no("hypothetical indexes")

    def uninstall_hypothetical_indexes(self) -> str:
        """The statement that drops the HypoPG extension if it is installed."""
        raise self._no("hypothetical indexes")

    def create_hypothetical_index(self, schema: str) -> str:
        """The query that creates, for this session only, the hypothetical index whose CREATE INDEX is
        its one parameter (HypoPG installed in ``schema``): one row, the index's name."""
        raise self._no("hypothetical indexes")

    def reset_hypothetical_indexes(self, schema: str) -> str:
        """The query that removes every hypothetical index of the session (HypoPG in ``schema``)."""
        raise self._no("hypothetical indexes")

    def advisory_lock(self, *, shared: bool) -> str:
        """The query that waits for and takes the session's advisory lock whose key is its one
        parameter, shared or exclusive."""
        raise self._no("advisory locks")

    def try_advisory_lock(self) -> str:
        """The query that takes the advisory lock whose key is its one parameter exclusively if no
        session holds it: one value, whether it was taken."""
        raise self._no("advisory locks")

    def advisory_unlock(self, *, shared: bool) -> str:
        """The query that releases the session's advisory lock whose key is its one parameter."""
        raise self._no("advisory locks")
