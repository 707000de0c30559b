"""The canonical text of the SET family in SQL: the JSON array of ``pm_pipeline.core.canonical.arrays``.

    PostgreSQL arrays       each element's canonical text through ``to_json``, aggregated in the
                            array's order, or distinct and sorted ``COLLATE "C"`` (code point
                            order) for a set; a value of more than one dimension as '?' || its text
    PostgreSQL text lists   ``string_to_array`` first, then as an array
    MariaDB/MySQL SET       one test of the SET's bit per member, members written as JSON literals
                            computed here, in definition order or sorted for a set
    MariaDB text lists      ordered ones only: ``JSON_QUOTE`` of the whole text, each separator
                            replaced by '","' (no split-and-sort function: a set is compared on the
                            Arrow side)
    DuckDB lists            ``list_transform`` with each element's canonical text, ``to_json`` of
                            each, joined; ``list_distinct`` + ``list_sort`` for a set (``list_distinct``
                            drops NULL: it is added back once, last)
    DuckDB text lists       ``string_split`` first ('' is the empty list)

DuckDB's ``to_json`` and MariaDB's ``JSON_QUOTE`` write control characters as upper-case escapes
(``\\u001F``) where Python writes lower case: they are rewritten; a text holding the six
characters ``\\u001F`` literally is rewritten too, which only sends its row to the row comparison.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Literal

from pm_pipeline.core.canonical.plan import ColumnPlan, mysql_set
from pm_pipeline.core.canonical.values import Side
from pm_pipeline.core.connectors.schema import Column, TypeFamily

F = TypeFamily
Dialect = Literal["postgresql", "mysql", "duckdb"]
ElementSql = Callable[[Dialect, ColumnPlan, Side, str], "str | None"]
_NEXT_ELEMENT = '","'  # closes one JSON string and opens the next
_UPPER_ESCAPES = [f"\\u00{code:02X}" for code in (0x0B, 0x0E, 0x0F, *range(0x1A, 0x20))]


def list_text_sql(
    dialect: Dialect, plan: ColumnPlan, side: Side, quoted: str, *, element_sql: ElementSql
) -> str | None:
    """SQL giving the canonical JSON array text of a SET-family column, or None if not expressible."""
    column = plan.source if side == "source" else plan.target
    if dialect == "mysql":
        return (
            _mysql_set(plan, column, quoted)
            if mysql_set(column)
            else _mysql_text_list(plan, side, column, quoted)
        )
    separator = plan.list_separator(side)
    if dialect == "postgresql":
        array = quoted if separator is None else f"string_to_array({quoted}::text, {_pg_literal(separator)})"
        element = element_sql(dialect, plan.element_plan, side, "pm_u.pm_e")
        if element is None:
            return None
        body = _pg_body(plan, array, element)
        if separator is None:
            return f"CASE WHEN {quoted} IS NULL THEN NULL WHEN array_ndims({quoted}) > 1 THEN '?' || {quoted}::text ELSE {body} END"
        return f"CASE WHEN {quoted} IS NULL THEN NULL ELSE {body} END"
    element = element_sql(dialect, plan.element_plan, side, "pm_x")
    if element is None:
        return None
    if separator is None:
        items = quoted
    else:
        items = f"CASE WHEN {quoted} = '' THEN []::VARCHAR[] ELSE string_split({quoted}, {_duck_literal(separator)}) END"
    texts = f"list_transform({items}, lambda pm_x: {element})"
    if not plan.list_ordered:
        null = f"CASE WHEN list_count({texts}) < len({texts}) THEN [NULL::VARCHAR] ELSE []::VARCHAR[] END"
        texts = f"list_concat(list_sort(list_distinct({texts}), 'ASC', 'NULLS LAST'), {null})"
    json_text = "CAST(to_json(pm_y) AS VARCHAR)"
    for upper in _UPPER_ESCAPES:
        json_text = f"replace({json_text}, '{upper}', '{upper.lower()}')"
    joined = f"array_to_string(list_transform({texts}, lambda pm_y: coalesce({json_text}, 'null')), ',')"
    return f"CASE WHEN {quoted} IS NULL THEN NULL ELSE '[' || {joined} || ']' END"


def _pg_body(plan: ColumnPlan, array: str, element: str) -> str:
    if plan.list_ordered:
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


def _mysql_set(plan: ColumnPlan, column: Column, quoted: str) -> str | None:
    members = column.enum_values
    if members is None or plan.element_plan.family is not F.TEXT:
        return None
    # A SET in a numeric context is its bit mask: member i (in definition order) is bit i.
    order = (
        list(range(len(members)))
        if plan.list_ordered
        else sorted(range(len(members)), key=members.__getitem__)
    )
    parts = [
        f"IF(({quoted} + 0) & {1 << i}, {_mysql_literal(json.dumps(members[i], ensure_ascii=False))}, NULL)"
        for i in order
    ]
    joined = f"CONCAT_WS(',', {', '.join(parts)})" if parts else "''"
    return f"CASE WHEN {quoted} IS NULL THEN NULL ELSE CONCAT('[', {joined}, ']') END"


def _mysql_text_list(plan: ColumnPlan, side: Side, column: Column, quoted: str) -> str | None:
    """An ordered text list: the whole text as one JSON string, each separator closing one element
    and opening the next. A separator JSON would escape, or a set's sorting, cannot be written so."""
    separator = plan.list_separator(side)
    if separator is None or not plan.list_ordered or plan.element_plan.family is not F.TEXT:
        return None
    if any(c in '"\\' or ord(c) < 0x20 for c in separator) or column.family is not F.TEXT:
        return None
    text = f"CONVERT({quoted} USING utf8mb4)"
    if column.data_type.lower().startswith(("char(", "character(", "nchar(")):
        text = f"RTRIM({text})"
    quoted_text = f"JSON_QUOTE({text})"
    for upper in _UPPER_ESCAPES:
        quoted_text = f"REPLACE({quoted_text}, {_mysql_literal(upper)}, {_mysql_literal(upper.lower())})"
    sep = _mysql_literal(separator)
    elements = f"REPLACE({quoted_text}, {sep}, {_mysql_literal(_NEXT_ELEMENT)})"
    # CHAR_LENGTH: a PAD SPACE collation holds ' ' = '', but ' ' is a list of one element.
    empty = f"CHAR_LENGTH({text}) = 0"
    return (
        f"CASE WHEN {quoted} IS NULL THEN NULL WHEN {empty} THEN '[]' ELSE CONCAT('[', {elements}, ']') END"
    )


def _mysql_literal(text: str) -> str:
    # Hex: no quoting or escaping mode (NO_BACKSLASH_ESCAPES, ANSI_QUOTES) can change it.
    return f"_utf8mb4 X'{text.encode().hex()}'" if text else "''"


def _pg_literal(text: str) -> str:
    # An escape string reads the same whatever standard_conforming_strings says.
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _duck_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
