"""MariaDB and MySQL's SQL dialect."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, ClassVar

from pm_pipeline.core.dialects.base import Dialect, StatementStatistics

if TYPE_CHECKING:
    from pm_pipeline.core.connectors.base import ConnectionUrl
    from pm_pipeline.core.connectors.schema import Column

# A foreign-key line of SHOW CREATE TABLE whose parent is in the same database (unqualified).
_LOCAL_REFERENCE = re.compile(
    r"^(\s*CONSTRAINT `(?:[^`]|``)+` FOREIGN KEY \(.*\) REFERENCES )`((?:[^`]|``)+)` \("
)


def _in_list(names: Sequence[str]) -> str:
    return ", ".join(["%s"] * len(names))


class MySqlDialect(Dialect):
    name: ClassVar[str] = "mysql"
    placeholder: ClassVar[str] = "%s"

    # -- names -------------------------------------------------------------------------------
    def quote(self, identifier: str) -> str:
        return "`" + identifier.replace("`", "``") + "`"

    # -- canonical text and hashes -----------------------------------------------------------
    row_hash_dialect = "mysql"
    # MariaDB's MD5 and string building run at a fraction of the rate of a plain read.
    hashes_slowly = True
    booleans_are_integers = True  # BOOLEAN is tinyint(1)

    def renders_canonically(self, data_type: str) -> bool:
        return not data_type.startswith("bit")

    def integer_text(self, expr: str, data_type: str) -> str:
        # YEAR renders as 4 digits ('0000'); the driver reads it as a number (0).
        return f"CAST({expr} + 0 AS CHAR)" if data_type.startswith("year") else f"CAST({expr} AS CHAR)"

    def decimal_text(self, expr: str) -> str:
        text = f"CAST({expr} AS CHAR)"
        trimmed = (
            f"IF(LOCATE('.', {text}) > 0, TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM {text})), {text})"
        )
        return f"IF({trimmed} = '-0', '0', {trimmed})"

    def plain_text(self, expr: str) -> str:
        return f"CONVERT({expr} USING utf8mb4)"

    def unpadded_text(self, expr: str) -> str:
        return f"RTRIM(CONVERT({expr} USING utf8mb4))"

    def uuid_text(self, expr: str) -> str:
        return f"LOWER(CAST({expr} AS CHAR))"

    def uuid_from_text(self, expr: str, white_space: tuple[int, ...]) -> str:
        # The characters themselves, not escapes: a server in NO_BACKSLASH_ESCAPES mode keeps backslashes.
        spaces = "[" + "".join(chr(c) for c in white_space) + "]"
        return f"LOWER(REGEXP_REPLACE(CONVERT({expr} USING utf8mb4), '^{spaces}+|{spaces}+$', ''))"

    def date_text(self, expr: str) -> str:
        return f"DATE_FORMAT({expr}, '%Y-%m-%d')"

    def instant_text(self, expr: str, *, data_type: str, family: str, infinite: str, zero: str) -> str | None:
        # MariaDB counts year 0 as a common year: its January and February come out one day late.
        micros = (
            f"TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {expr})"
            f" - IF({expr} < '0000-03-01', 86400000000, 0)"
        )
        # NULL for a zero date and for a partly zero one ('2024-00-10'), which no reader parses:
        # the latter keeps its own text, never equal to an instant's digits nor to NULL.
        text = f"CAST({expr} AS CHAR)"
        other = f"IF({text} LIKE '0000-00-00%', '{zero}', CONCAT('?', {text}))"
        return f"COALESCE(CAST({micros} AS CHAR), {other})"

    def is_zero_date(self, quoted: str, family: str) -> str:
        # A date or datetime as a number is YYYYMMDD or YYYYMMDDhhmmss[.ffffff]: its date part is
        # zero exactly when the number is below one day's place. Far cheaper than rendering text.
        if family == "date":
            return f"({quoted} + 0) < 1"
        if family in ("timestamp", "timestamptz"):
            return f"({quoted} + 0) < 1000000"
        return super().is_zero_date(quoted, family)

    def hex_text(self, expr: str) -> str:
        return f"LOWER(HEX({expr}))"

    def concat(self, *parts: str) -> str:
        return f"CONCAT({', '.join(parts)})"

    def md5_bigint60(self, text: str) -> str:
        return f"CAST(CONV(LEFT(MD5(CONVERT({text} USING utf8mb4)), 15), 16, 10) AS SIGNED)"

    def int_div(self, dividend: str, divisor: int) -> str:
        return f"{dividend} DIV {int(divisor)}"

    def to_bigint(self, expr: str) -> str:
        return f"CAST({expr} AS SIGNED)"

    def power10(self, exponent: str) -> str:
        return f"POW(10, {exponent})"

    def text_literal(self, text: str) -> str:
        # Hex: no quoting or escaping mode (NO_BACKSLASH_ESCAPES, ANSI_QUOTES) can change it.
        return f"_utf8mb4 X'{text.encode().hex()}'" if text else "''"

    def text_list_json(self, expr: str, text: str, separator: str) -> str:
        """``JSON_QUOTE`` of the whole text, each separator replaced by '","' (closing one JSON
        string and opening the next): there is no split-and-sort function."""
        quoted = f"JSON_QUOTE({text})"
        for upper in self.upper_json_escapes:
            quoted = f"REPLACE({quoted}, {self.text_literal(upper)}, {self.text_literal(upper.lower())})"
        next_element = self.text_literal('","')
        elements = f"REPLACE({quoted}, {self.text_literal(separator)}, {next_element})"
        # CHAR_LENGTH: a PAD SPACE collation holds ' ' = '', but ' ' is a list of one element.
        empty = f"CHAR_LENGTH({text}) = 0"
        return (
            f"CASE WHEN {expr} IS NULL THEN NULL WHEN {empty} THEN '[]' ELSE CONCAT('[', {elements}, ']') END"
        )

    def set_json_text(self, expr: str, members: Sequence[tuple[int, str]]) -> str | None:
        # A SET in a numeric context is its bit mask.
        parts = [f"IF(({expr} + 0) & {bit}, {self.text_literal(json)}, NULL)" for bit, json in members]
        joined = f"CONCAT_WS(',', {', '.join(parts)})" if parts else "''"
        return f"CASE WHEN {expr} IS NULL THEN NULL ELSE CONCAT('[', {joined}, ']') END"

    def record_hash(self, alias: str, columns: Callable[[], Sequence[str]]) -> str | None:
        parts = ", ".join(f"COALESCE(CAST({column} AS CHAR), '~pm-null~')" for column in columns())
        return f"CRC32(CONCAT_WS('|', {parts}))"

    # -- integrity and schema ----------------------------------------------------------------
    default_fractional_digits = 0
    instants_read_as_utc_wall_time = True  # sessions run in UTC; TIMESTAMP comes back naive
    year_range = (0, 2155)  # 1901..2155 and the zero year 0000, whatever the display width
    real_bits = 53  # REAL is DOUBLE unless the server runs with REAL_AS_FLOAT
    unsized_float_bits = 24
    type_spellings = (
        ("mysql_tinyint1_is_boolean", r"^tinyint\s*\(\s*1\s*\)", "boolean",
         "MariaDB/MySQL BOOLEAN is declared tinyint(1)"),
        ("mysql_bit1_is_boolean", r"^bit\s*\(\s*1\s*\)", "boolean", "bit(1) flags are booleans"),
        ("mysql_timestamp_is_instant", r"^timestamp\b", "timestamptz",
         "MariaDB/MySQL TIMESTAMP stores an instant in UTC and converts it with the session zone"),
    )  # fmt: skip

    def byte_length(self, expr: str) -> str:
        return f"LENGTH({expr})"

    has_zero_dates = True
    sqlalchemy_url_template = "mysql+pymysql://{auth}@{host}{port}/{database}"

    def char_length(self, expr: str) -> str:
        return f"CHAR_LENGTH({expr})"

    def text_cast(self, expr: str) -> str:
        return f"CAST({expr} AS CHAR)"

    def bytewise(self, expr: str) -> str:
        return f"CAST({expr} AS BINARY)"

    # -- rollback ----------------------------------------------------------------------------
    supports_transactional_ddl: ClassVar[bool] = False
    # The restore session turns foreign-key checks off.
    foreign_key_deferral: ClassVar[str] = "all"
    can_add_foreign_key: ClassVar[bool] = True
    names_foreign_key_index_after_constraint: ClassVar[bool] = True

    # Families (TypeFamily values) the driver reads into Arrow without loss.
    _read_natively: ClassVar[frozenset[str]] = frozenset({"integer", "float", "text", "binary"})

    def url_schema(self, url: ConnectionUrl) -> str | None:
        return url.database

    def select_expression(self, column: Column) -> str:
        quoted = self.quote(column.name)
        if column.data_type.startswith("bit"):
            return f"CAST({quoted} AS UNSIGNED)"
        if column.family in self._read_natively:
            return quoted
        return f"CAST({quoted} AS CHAR)"

    def table_ddl_query(self, relation: str) -> str | None:
        return f"SHOW CREATE TABLE {relation}"

    def restore_locks(self, tables: list[str]) -> tuple[str, ...]:
        return (
            "none on the target while the shadow tables are loaded and verified",
            f"an exclusive metadata lock on {', '.join(tables)} for the one RENAME TABLE that swaps them",
        )

    def reset_sequence(self, *, sequence: str, schema: str | None, table: str, next_value: int) -> str | None:
        return f"ALTER TABLE {table} AUTO_INCREMENT = {int(next_value)}"

    def foreign_key_checks_off(self) -> str:
        return "SET FOREIGN_KEY_CHECKS = 0"

    def swap_statement(self, moves: list[tuple[str, str]]) -> str:
        # Atomic across databases, a crash included.
        return "RENAME TABLE " + ", ".join(f"{old} TO {new}" for old, new in moves)

    def trigger_query(self, schema: str, tables: Sequence[str]) -> tuple[str, tuple[object, ...]]:
        return (
            "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME FROM information_schema.TRIGGERS "
            f"WHERE EVENT_OBJECT_SCHEMA = %s AND EVENT_OBJECT_TABLE IN ({_in_list(tables)}) ORDER BY 1, 2",
            (schema, *tables),
        )

    def existing_tables_query(self, schema: str, tables: Sequence[str]) -> tuple[str, tuple[object, ...]]:
        return (
            f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ({_in_list(tables)})",
            (schema, *tables),
        )

    def create_database(self, name: str) -> str:
        return f"CREATE DATABASE {self.quote(name)}"

    def drop_database(self, name: str) -> str:
        return f"DROP DATABASE IF EXISTS {self.quote(name)}"

    def qualify_references(self, body: str, *, database: str, restored: Collection[str]) -> str:
        lines = []
        for line in body.split("\n"):
            found = _LOCAL_REFERENCE.match(line)
            if found and found.group(2).replace("``", "`") not in restored:
                line = f"{found.group(1)}{self.quote(database)}.`{found.group(2)}` ({line[found.end() :]}"
            lines.append(line)
        return "\n".join(lines)

    # -- performance -------------------------------------------------------------------------
    default_port = 3306
    reads_tables_by_index = True
    table_counter_keys = ("rows", "table_bytes", "index_bytes")
    session_counters = "SHOW SESSION STATUS LIKE 'Handler_read%'"
    statement_statistics = StatementStatistics(
        product="MariaDB/MySQL",
        kept_in="performance_schema",
        enabled_query="SELECT @@performance_schema",
        disabled="runs with performance_schema off (start it with --performance-schema=ON)",
        top_query="SELECT DIGEST, DIGEST_TEXT FROM performance_schema.events_statements_summary_by_digest "
        "WHERE SCHEMA_NAME = DATABASE() AND DIGEST_TEXT LIKE 'SELECT %%' "
        "ORDER BY SUM_TIMER_WAIT DESC, DIGEST LIMIT %s",
        placeholder=r"\?",
        name_prefix="digest_",
        names_by_text=False,
        unreadable_is_bad_input=False,
        catalogs=("information_schema", "performance_schema", r"\bmysql\.", r"\bsys\."),
        writing_functions=("get_lock",),
    )

    def explain(self, sql: str) -> str:
        return f"EXPLAIN FORMAT=JSON {sql}"

    def statement_timeout(
        self, milliseconds: int, *, schema: str | None, server_version: str
    ) -> tuple[tuple[str, ...], str] | None:
        if server_version.startswith("MariaDB"):
            variable, value = "max_statement_time", f"{milliseconds / 1000:.3f}"  # seconds
        else:
            variable, value = "max_execution_time", str(milliseconds)
        # DEFAULT would be the server's global value, not the limit the connector set: the
        # session's own value is kept in a user variable and put back.
        kept = f"@pm_pipeline_{variable}"
        return (
            f"SET {kept} = @@SESSION.{variable}",
            f"SET SESSION {variable} = {value}",
        ), f"SET SESSION {variable} = {kept}"

    def table_counters(
        self, *, schema: str | None, tables: tuple[str, ...]
    ) -> tuple[str, tuple[object, ...]] | None:
        placeholders = ", ".join(["%s"] * len(tables))
        return (
            "SELECT table_name, COALESCE(table_rows, 0), COALESCE(data_length, 0), COALESCE(index_length, 0) "
            f"FROM information_schema.tables WHERE table_schema = %s AND table_name IN ({placeholders}) "
            "ORDER BY table_name",
            (schema, *tables),
        )
