# Over 300 lines: one engine's whole dialect, every section of the protocol it fills.
"""PostgreSQL's SQL dialect."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from pm_pipeline.core.dialects.base import Dialect, StatementStatistics

if TYPE_CHECKING:
    from pm_pipeline.core.connectors.base import ConnectionUrl
    from pm_pipeline.core.connectors.schema import Column


class PostgresDialect(Dialect):
    name: ClassVar[str] = "postgresql"
    placeholder: ClassVar[str] = "%s"

    # -- names -------------------------------------------------------------------------------

    # -- canonical text and hashes -----------------------------------------------------------
    row_hash_dialect = "postgresql"
    has_native_row_hash = True
    has_nan_and_infinity = True
    has_list_functions = True
    list_element = "pm_u.pm_e"

    def integer_text(self, expr: str, data_type: str) -> str:
        return f"{expr}::text"

    def decimal_text(self, expr: str) -> str:
        return f"trim_scale({expr})::text"

    def plain_text(self, expr: str) -> str:
        return f"{expr}::text"

    def unpadded_text(self, expr: str) -> str:
        return f"rtrim({expr}::text, ' ')"

    def uuid_text(self, expr: str) -> str:
        return f"{expr}::text"

    def uuid_from_text(self, expr: str, white_space: tuple[int, ...]) -> str:
        # Only the ASCII ones, which every server encoding can spell (LATIN1 has no U+1680).
        spaces = "".join(f"\\x{c:02x}" for c in white_space if c < 0x80)
        return f"lower(btrim({expr}, E'{spaces}'))"

    def date_text(self, expr: str) -> str:
        # to_char writes 44 BC as '0044' (no year 0) and ±infinity as NULL; Arrow writes '-0043'.
        bc_year = f"to_char(-1 - extract(year FROM {expr})::int, 'FM0000')"
        return (
            f"CASE WHEN NOT isfinite({expr}) THEN {expr}::text"
            f" WHEN {expr} >= DATE '0001-01-01' THEN to_char({expr}, 'YYYY-MM-DD')"
            f" WHEN {expr} >= DATE '0001-01-01 BC' THEN to_char({expr}, '\"0000\"-MM-DD')"
            f" ELSE '-' || {bc_year} || to_char({expr}, '-MM-DD') END"
        )

    def instant_text(self, expr: str, *, data_type: str, family: str, infinite: str, zero: str) -> str | None:
        value = f"{expr}::timestamp" if family == "date" else expr
        micros = f"(extract(epoch FROM {value}) * 1000000)::bigint::text"
        return (
            f"CASE WHEN isfinite({expr}) THEN {micros} WHEN {expr} > 'epoch' THEN '{infinite}'"
            f" WHEN {expr} < 'epoch' THEN '-{infinite}' END"
        )

    def hex_text(self, expr: str) -> str:
        return f"encode({expr}, 'hex')"

    def md5_bigint60(self, text: str) -> str:
        return f"('x' || left(md5({text}), 15))::bit(60)::bigint"

    def native_row_hash(self, expressions: Sequence[str], types: Sequence[str | None], *, mask: int) -> str:
        """Each value's type-specific extended hash, seeded by its position (a NULL contributes the
        seed itself), chained: each step hashes the previous result XOR the next value's hash.
        ``types`` are the columns' declared types, None for a BIGINT expression. No text is built,
        which makes a scan cheaper than one ``hashtext(row::text)`` pass."""
        parts = [
            f"coalesce({self._value_hash(expression, data_type, seed)}, {seed})"
            for seed, (expression, data_type) in enumerate(zip(expressions, types, strict=True), start=1)
        ]
        chained = parts[0]
        for seed, part in enumerate(parts[1:], start=2):
            chained = f"hashint8extended({chained} # {part}, {seed})"
        return f"({chained} & {mask})"

    def _value_hash(self, expression: str, data_type: str | None, seed: int) -> str:
        kind = (data_type or "bigint").lower()
        if kind.endswith("]"):  # an array: its text, not its element type's hash
            return f"hashtextextended(({expression})::text, {seed})"
        if kind in ("smallint", "integer", "bigint", "int2", "int4", "int8"):
            return f"hashint8extended(({expression})::int8, {seed})"
        if kind.startswith(("numeric", "decimal")):
            return f"hash_numeric_extended({expression}, {seed})"
        if kind.startswith("timestamp"):
            # With time zone: read in the session's UTC, the same instant gives the same wall time.
            return f"timestamp_hash_extended(({expression})::timestamp, {seed})"
        if kind == "date":
            # Days since 2000 (the date's own integer); ±infinity have no difference, only a text.
            return (
                f"CASE WHEN isfinite({expression}) THEN hashint4extended({expression} - DATE '2000-01-01', {seed})"
                f" ELSE hashtextextended(({expression})::text, {seed}) END"
            )
        if kind == "boolean":
            return f"hashint4extended(({expression})::int4, {seed})"
        if kind == "uuid":
            return f"uuid_hash_extended({expression}, {seed})"
        return f"hashtextextended(({expression})::text, {seed})"

    def int_div(self, dividend: str, divisor: int) -> str:
        return f"{dividend} / {int(divisor)}"

    def double(self, expr: str) -> str:
        return f"({expr})::float8"

    def to_bigint(self, expr: str) -> str:
        return f"{expr}::bigint"

    def to_int(self, expr: str) -> str:
        return f"{expr}::int"

    def power10(self, exponent: str) -> str:
        return f"power(10::float8, {exponent})"

    def is_nan(self, expr: str) -> str:
        return f"{expr} = 'NaN'::float8"

    def is_infinite(self, expr: str) -> str:
        return f"abs({expr}) = 'Infinity'::float8"

    def text_literal(self, text: str) -> str:
        # An escape string reads the same whatever standard_conforming_strings says.
        return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"

    def list_json_text(self, expr: str, element: str, *, separator: str | None, ordered: bool) -> str:
        """Each element's text through ``to_json``, aggregated in the array's order, or distinct and
        sorted ``COLLATE "C"`` (code point order); a value of more than one dimension as '?' || its
        text. A text list goes through ``string_to_array`` first."""
        if separator is not None:
            array = f"string_to_array({expr}::text, {self.text_literal(separator)})"
            return f"CASE WHEN {expr} IS NULL THEN NULL ELSE {self._json_array(array, element, ordered)} END"
        body = self._json_array(expr, element, ordered)
        return f"CASE WHEN {expr} IS NULL THEN NULL WHEN array_ndims({expr}) > 1 THEN '?' || {expr}::text ELSE {body} END"

    def _json_array(self, array: str, element: str, ordered: bool) -> str:
        if ordered:
            return (
                "(SELECT '[' || coalesce(string_agg(coalesce(to_json(" + element + ")::text, 'null'), ',' "
                f"ORDER BY pm_u.pm_i), '') || ']' FROM unnest({array}) WITH ORDINALITY pm_u(pm_e, pm_i))"
            )
        # Byte-wise DISTINCT: under a nondeterministic (case-insensitive) collation 'a' and 'A' would merge.
        distinct = f'SELECT DISTINCT ({element}) COLLATE "C" AS pm_c FROM unnest({array}) pm_u(pm_e)'
        return (
            "(SELECT '[' || coalesce(string_agg(coalesce(to_json(pm_d.pm_c)::text, 'null'), ',' "
            f"ORDER BY pm_d.pm_c COLLATE \"C\" NULLS LAST), '') || ']' FROM ({distinct}) pm_d)"
        )

    def record_hash(self, alias: str, columns: Callable[[], Sequence[str]]) -> str | None:
        return f"hashtext({alias}::text)::bigint"

    # -- integrity and schema ----------------------------------------------------------------
    default_fractional_digits = 6

    def byte_length(self, expr: str) -> str:
        return f"octet_length({expr})"

    has_schemas = True
    supports_infinite_timestamps = True
    unreadable_infinity = True  # psycopg: "date too large (after year 10K)"
    binds_aware_timestamps = True
    sqlalchemy_url_template = "postgresql+psycopg2://{auth}@{host}{port}/{database}"
    gx_data_source = "postgres"

    def char_length(self, expr: str) -> str:
        return f"char_length({expr})"

    def text_cast(self, expr: str) -> str:
        return f"CAST({expr} AS text)"

    def text_hash64(self, expr: str) -> str | None:
        # Its bytes under a deterministic collation: callers hash byte-wise text (bytewise).
        return f"hashtextextended({expr}, 0)"

    def bytewise(self, expr: str) -> str:
        # A cast keeps the column's collation, and a nondeterministic one (case-insensitive ICU,
        # the usual home of a MariaDB _ci column) holds 'a' = 'A'.
        return f'(({expr}) COLLATE "C")'

    # -- rollback ----------------------------------------------------------------------------
    foreign_key_deferral: ClassVar[str] = "deferrable"
    supports_in_database_copies: ClassVar[bool] = True
    can_add_foreign_key: ClassVar[bool] = True
    # Indexes that back a constraint come back with the constraint, not on their own.
    index_ddl_query: ClassVar[str | None] = (
        "SELECT ic.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class ic ON ic.oid = i.indexrelid "
        "WHERE i.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
    )
    constraint_ddl_query: ClassVar[str | None] = (
        "SELECT conname, pg_get_constraintdef(oid), contype, condeferrable FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f', 'c') ORDER BY conname"
    )

    # Families (TypeFamily values) the driver reads into Arrow without loss.
    _read_natively: ClassVar[frozenset[str]] = frozenset(
        {"integer", "float", "text", "boolean", "date", "timestamp", "timestamptz", "binary"}
    )

    def url_schema(self, url: ConnectionUrl) -> str | None:
        return url.query.get("schema", "public")

    def select_expression(self, column: Column) -> str:
        quoted = self.quote(column.name)
        # time with time zone has no Arrow type.
        if column.family in self._read_natively or (
            column.family == "time" and "with time zone" not in column.data_type
        ):
            return quoted
        return f"{quoted}::text"

    def restore_prelude(self, *, defer: bool) -> list[str]:
        return ["SET CONSTRAINTS ALL DEFERRED"] if defer else []

    def lock_for_restore(self, relations: list[str]) -> list[str]:
        # Others still read (the last export does, on its own connection); their writes wait.
        return [f"LOCK TABLE {', '.join(relations)} IN EXCLUSIVE MODE"] if relations else []

    def restore_locks(self, tables: list[str]) -> tuple[str, ...]:
        return (
            f"EXCLUSIVE on {', '.join(tables)} from the last export of changed rows to COMMIT "
            "(reads go on, writes wait)",
            "SHARE lock on a table while a missing index is rebuilt",
        )

    def restore_parameter(self, column: Column, placeholder: str) -> str:
        # Values come back as read (numeric, uuid, json as text): cast each to the column type.
        return f"CAST({placeholder} AS {column.data_type})"

    def identity_override(self, columns: tuple[Column, ...]) -> str:
        # GENERATED ALWAYS identity columns take given values only with it; a serial column (a
        # nextval() default) needs none.
        identity = any(c.identity and not (c.default or "").startswith("nextval(") for c in columns)
        return " OVERRIDING SYSTEM VALUE" if identity else ""

    def reset_sequence(self, *, sequence: str, schema: str | None, table: str, next_value: int) -> str | None:
        return f"ALTER SEQUENCE {self.qualified(sequence, schema)} RESTART WITH {int(next_value)}"

    def create_schema(self, schema: str) -> str:
        return f"CREATE SCHEMA {self.quote(schema)}"

    def drop_schema(self, schema: str) -> str:
        return f"DROP SCHEMA IF EXISTS {self.quote(schema)} CASCADE"

    def relation_exists_query(self, relation: str) -> tuple[str, tuple[object, ...]]:
        return "SELECT to_regclass(%s)", (relation,)

    def share_lock(self, relation: str) -> str:
        return f"LOCK TABLE {relation} IN SHARE MODE"

    # The two halves of each row's MD5 (16 hex digits each), read as signed 64-bit integers.
    _md5_halves: ClassVar[tuple[str, ...]] = tuple(
        f"('x' || {side}(h, 16))::bit(64)::bigint" for side in ("left", "right")
    )

    def copy_fingerprint(self, relation: str, *, separator: str) -> str:
        # No sort, whatever the row count: sum of bigint is an exact numeric.
        sums = f" || '{separator}' || ".join(f"coalesce(sum({half}), 0)::text" for half in self._md5_halves)
        return f"SELECT count(*), {sums} FROM (SELECT md5(t::text) AS h FROM {relation} t) AS hashed"

    # -- performance -------------------------------------------------------------------------
    default_port = 5432
    database_defaults_to_user = True
    reads_tables_by_index = True
    takes_hypothetical_indexes = True
    builds_indexes_concurrently = True
    table_counter_keys = (
        "seq_scan",
        "seq_tup_read",
        "idx_scan",
        "heap_blks_read",
        "heap_blks_hit",
        "idx_blks_read",
        "idx_blks_hit",
        "table_bytes",
        "index_bytes",
    )
    # This session's counters reach the statistics views when flushed.
    counters_flush = "SELECT pg_stat_force_next_flush()"
    statement_statistics = StatementStatistics(
        product="PostgreSQL",
        kept_in="pg_stat_statements",
        enabled_query="SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'",
        disabled="database has no pg_stat_statements (CREATE EXTENSION pg_stat_statements, with "
        "shared_preload_libraries = 'pg_stat_statements')",
        top_query="SELECT queryid, query FROM pg_stat_statements "
        "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND query ~* '^\\s*select\\s' ORDER BY total_exec_time DESC, queryid LIMIT %s",
        placeholder=r"\$\d+",  # numbered: '?' is an operator
        name_prefix="pgss_",
        names_by_text=True,
        unreadable_is_bad_input=True,
        catalogs=(r"\bpg_", "information_schema", "hypopg"),
        writing_functions=("nextval", "setval", r"pg_advisory\w*"),
    )

    def explain(self, sql: str) -> str:
        return f"EXPLAIN (FORMAT JSON) {sql}"

    def statement_timeout(
        self, milliseconds: int, *, schema: str | None, server_version: str
    ) -> tuple[tuple[str, ...], str] | None:
        # The workload's unqualified names resolve in the URL's schema first, as the reads do.
        return (
            f"SET search_path TO {self.quote(schema or 'public')}, public",
            f"SET statement_timeout = {milliseconds}",
        ), "RESET statement_timeout; RESET search_path"

    def table_counters(
        self, *, schema: str | None, tables: tuple[str, ...]
    ) -> tuple[str, tuple[object, ...]] | None:
        return (
            "SELECT s.relname, s.seq_scan, s.seq_tup_read, COALESCE(s.idx_scan, 0), "
            "COALESCE(io.heap_blks_read, 0), COALESCE(io.heap_blks_hit, 0), "
            "COALESCE(io.idx_blks_read, 0), COALESCE(io.idx_blks_hit, 0), "
            "pg_relation_size(s.relid), pg_indexes_size(s.relid) "
            "FROM pg_stat_user_tables s JOIN pg_statio_user_tables io ON io.relid = s.relid "
            "WHERE s.schemaname = %s AND s.relname = ANY(%s) ORDER BY s.relname",
            (schema or "public", sorted({t.lower() for t in tables} | set(tables))),
        )

    def hypothetical_index_schema_query(self) -> str:
        return (
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'hypopg'"
        )

    def hypothetical_index_available_query(self) -> str:
        return "SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'"

    def install_hypothetical_indexes(self) -> str:
        return "CREATE EXTENSION IF NOT EXISTS hypopg"

    def uninstall_hypothetical_indexes(self) -> str:
        return "DROP EXTENSION IF EXISTS hypopg"

    def create_hypothetical_index(self, schema: str) -> str:
        return f"SELECT indexname FROM {self.quote(schema)}.hypopg_create_index(%s)"

    def reset_hypothetical_indexes(self, schema: str) -> str:
        return f"SELECT {self.quote(schema)}.hypopg_reset()"

    def advisory_lock(self, *, shared: bool) -> str:
        return f"SELECT pg_advisory_lock{'_shared' if shared else ''}(%s)"

    def try_advisory_lock(self) -> str:
        return "SELECT pg_try_advisory_lock(%s)"

    def advisory_unlock(self, *, shared: bool) -> str:
        return f"SELECT pg_advisory_unlock{'_shared' if shared else ''}(%s)"
