"""DuckDB's SQL dialect."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from pm_pipeline.core.dialects.base import Dialect


class DuckDbDialect(Dialect):
    name: ClassVar[str] = "duckdb"
    placeholder: ClassVar[str] = "?"

    # -- names -------------------------------------------------------------------------------

    # -- canonical text and hashes -----------------------------------------------------------
    row_hash_dialect = "duckdb"
    has_native_row_hash = True
    has_nan_and_infinity = True
    has_list_functions = True
    list_element = "pm_x"

    def integer_text(self, expr: str, data_type: str) -> str:
        return f"CAST({expr} AS VARCHAR)"

    def decimal_text(self, expr: str) -> str:
        text = f"CAST({expr} AS VARCHAR)"
        trimmed = f"CASE WHEN contains({text}, '.') THEN rtrim(rtrim({text}, '0'), '.') ELSE {text} END"
        return f"CASE WHEN {trimmed} = '-0' THEN '0' ELSE {trimmed} END"

    def decimal_as_text(self, expr: str) -> str:
        # DuckDB hands a DECIMAL over as an Arrow decimal, whose text is the normalised one.
        return self.decimal_text(expr)

    def plain_text(self, expr: str) -> str:
        return f"CAST({expr} AS VARCHAR)"

    def unpadded_text(self, expr: str) -> str:
        return self.plain_text(expr)  # CHAR(n) is VARCHAR: nothing pads it

    def uuid_text(self, expr: str) -> str:
        return f"CAST({expr} AS VARCHAR)"

    def uuid_from_text(self, expr: str, white_space: tuple[int, ...]) -> str:
        spaces = "(" + " || ".join(f"chr({c})" for c in white_space) + ")"
        return f"lower(trim({expr}, {spaces}))"

    def date_text(self, expr: str) -> str:
        # Arrow writes a year before 1 (astronomical numbering) as '-0043'; strftime as '-43'.
        before = f"printf('-%04d', -year({expr})) || strftime({expr}, '-%m-%d')"
        return f"CASE WHEN {expr} >= DATE '0000-01-01' OR isinf({expr}) THEN strftime({expr}, '%Y-%m-%d') ELSE {before} END"

    def instant_text(self, expr: str, *, data_type: str, family: str, infinite: str, zero: str) -> str | None:
        if "_ns" in data_type:
            return None
        # Naive seconds/milliseconds are widened first: DuckDB 2.0.1's epoch_us refuses them before 1677.
        value = f"CAST({expr} AS TIMESTAMP)" if family in ("date", "timestamp") else expr
        # epoch_us(±infinity) is NULL; canonical infinities are ±(2^63 - 1), as Arrow receives them.
        infinity = f"CASE WHEN {value} > TIMESTAMP 'epoch' THEN '{infinite}' ELSE '-{infinite}' END"
        return f"CASE WHEN isinf({value}) THEN {infinity} ELSE CAST(epoch_us({value}) AS VARCHAR) END"

    def hex_text(self, expr: str) -> str:
        return f"lower(hex({expr}))"

    def number_operand(self, expr: str) -> str:
        return f"CAST({expr} AS VARCHAR)"

    def md5_bigint60(self, text: str) -> str:
        return f"CAST('0x' || left(md5({text}), 15) AS BIGINT)"

    def native_row_hash(self, expressions: Sequence[str], types: Sequence[str | None], *, mask: int) -> str:
        """``hash()`` of all values, hashed once more: ``hash(a, b)`` is ``f(hash(a)) XOR hash(b)``,
        and a row hash that XORs one hash per column would let values of one column swapped between
        two rows of a bucket cancel out in the bucket's XOR."""
        combined = f"hash({', '.join(expressions)})"
        if len(expressions) > 1:
            combined = f"hash({combined})"
        return f"CAST({combined} & {mask} AS BIGINT)"

    def int_div(self, dividend: str, divisor: int) -> str:
        return f"{dividend} // {int(divisor)}"

    def is_nan(self, expr: str) -> str:
        return f"isnan({expr})"

    def is_infinite(self, expr: str) -> str:
        return f"isinf({expr})"

    def list_json_text(self, expr: str, element: str, *, separator: str | None, ordered: bool) -> str:
        """``list_transform`` with each element's text, ``to_json`` of each, joined; a set through
        ``list_distinct`` + ``list_sort`` (``list_distinct`` drops NULL: it is added back once,
        last). A text list goes through ``string_split`` first ('' is the empty list)."""
        items = expr
        if separator is not None:
            split = f"string_split({expr}, {self.text_literal(separator)})"
            items = f"CASE WHEN {expr} = '' THEN []::VARCHAR[] ELSE {split} END"
        texts = f"list_transform({items}, lambda {self.list_element}: {element})"
        if not ordered:
            null = f"CASE WHEN list_count({texts}) < len({texts}) THEN [NULL::VARCHAR] ELSE []::VARCHAR[] END"
            texts = f"list_concat(list_sort(list_distinct({texts}), 'ASC', 'NULLS LAST'), {null})"
        json_text = "CAST(to_json(pm_y) AS VARCHAR)"
        for upper in self.upper_json_escapes:
            json_text = f"replace({json_text}, '{upper}', '{upper.lower()}')"
        joined = f"array_to_string(list_transform({texts}, lambda pm_y: coalesce({json_text}, 'null')), ',')"
        return f"CASE WHEN {expr} IS NULL THEN NULL ELSE '[' || {joined} || ']' END"

    def record_hash(self, alias: str, columns: Callable[[], Sequence[str]]) -> str | None:
        return f"hash({alias})"

    # -- integrity and schema ----------------------------------------------------------------
    default_fractional_digits: ClassVar[int | None] = 6
    unsized_float_bits = 24

    def byte_length(self, expr: str) -> str:
        return f"octet_length({expr})"

    has_schemas = True
    supports_infinite_timestamps = True

    def char_length(self, expr: str) -> str:
        return f"length({expr})"

    def text_cast(self, expr: str) -> str:
        return f"CAST({expr} AS VARCHAR)"

    def bytewise(self, expr: str) -> str:
        # a cast keeps a NOCASE collation
        return f'(({expr}) COLLATE "binary")'

    # -- rollback ----------------------------------------------------------------------------
    # No reading connection opens on a file next to a writing one.
    reads_beside_a_writer: ClassVar[bool] = False
    checks_deleted_children: ClassVar[bool] = True

    # -- performance -------------------------------------------------------------------------
    def explain(self, sql: str) -> str:
        return f"EXPLAIN (FORMAT JSON) {sql}"
