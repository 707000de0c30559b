"""The canonical text of the SET family in SQL: the JSON array of ``pm_pipeline.core.canonical.arrays``.

    arrays and lists     each element's canonical text (``sqltext``), as JSON, in the list's order
                         or distinct and in code point order for a set (the dialect's
                         ``list_json_text``); a text list is split at its separator first
    MariaDB/MySQL SET    one test of the SET's bit per member, members written as JSON literals
                         computed here, in definition order or sorted for a set
    text lists where     ordered ones only: the whole text as one JSON string, each separator
    the engine has no    replaced by '","' (no split-and-sort function: a set is compared on the
    list functions       Arrow side)

JSON writers that spell control characters as upper-case escapes (``\\u001F``, where Python writes
lower case) are rewritten; a text holding the six characters ``\\u001F`` literally is rewritten
too, which only sends its row to the row comparison.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from pm_pipeline.core.canonical.plan import ColumnPlan, mysql_set
from pm_pipeline.core.canonical.values import Side
from pm_pipeline.core.connectors.schema import Column, TypeFamily
from pm_pipeline.core.dialects import Dialect

F = TypeFamily
ElementSql = Callable[[Dialect, ColumnPlan, Side, str], "str | None"]
_CHAR_TYPES = ("char(", "character(", "nchar(")  # MariaDB's fixed-width text types


def list_text_sql(
    dialect: Dialect, plan: ColumnPlan, side: Side, quoted: str, *, element_sql: ElementSql
) -> str | None:
    """SQL giving the canonical JSON array text of a SET-family column, or None if not expressible."""
    column = plan.source if side == "source" else plan.target
    if not dialect.has_list_functions:
        if mysql_set(column):
            return _set_members(dialect, plan, column, quoted)
        return _joined_text_list(dialect, plan, side, column, quoted)
    element = element_sql(dialect, plan.element_plan, side, dialect.list_element)
    if element is None:
        return None
    return dialect.list_json_text(
        quoted, element, separator=plan.list_separator(side), ordered=plan.list_ordered
    )


def _set_members(dialect: Dialect, plan: ColumnPlan, column: Column, quoted: str) -> str | None:
    members = column.enum_values
    if members is None or plan.element_plan.family is not F.TEXT:
        return None
    # Member i (in definition order) is bit i of the SET's value.
    order = (
        list(range(len(members)))
        if plan.list_ordered
        else sorted(range(len(members)), key=members.__getitem__)
    )
    return dialect.set_json_text(
        quoted, [(1 << i, json.dumps(members[i], ensure_ascii=False)) for i in order]
    )


def _joined_text_list(
    dialect: Dialect, plan: ColumnPlan, side: Side, column: Column, quoted: str
) -> str | None:
    """An ordered text list: the whole text as one JSON string, each separator closing one element
    and opening the next. A separator JSON would escape, or a set's sorting, cannot be written so."""
    separator = plan.list_separator(side)
    if separator is None or not plan.list_ordered or plan.element_plan.family is not F.TEXT:
        return None
    if any(c in '"\\' or ord(c) < 0x20 for c in separator) or column.family is not F.TEXT:
        return None
    padded = column.data_type.lower().startswith(_CHAR_TYPES)
    text = dialect.unpadded_text(quoted) if padded else dialect.plain_text(quoted)
    return dialect.text_list_json(quoted, text, separator)
