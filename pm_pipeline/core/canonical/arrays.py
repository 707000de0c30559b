"""The canonical form of the SET family: MySQL SETs, PostgreSQL arrays, DuckDB and Arrow lists, and
text the spec declares a delimited list (``list_separator``).

A value becomes the compact JSON array of its elements' canonical texts (``["a","b c"]``,
``["1","20"]``): each element is canonicalised in the pair's element family
(``ColumnPlan.element_plan``: text exact, numbers normalised, instants in microseconds...) and
written as text (integers and instants in decimal digits, binary as lower-case hex), a NULL
element as ``null``. Compared as a set (``ColumnPlan.list_ordered`` false) the elements are
sorted by code point with ``null`` last and duplicates collapse; as a list they keep their order.

NULL stays NULL; an empty array, an empty list and the empty SET ``''`` are all ``[]``. A
PostgreSQL value with more than one dimension becomes ``'?'`` followed by its text: it equals
only the same value, never a list.

The same text is written in SQL by ``pm_pipeline.core.canonical.sqllists``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.connectors.schema import TypeFamily

F = TypeFamily
Canonicalize = Callable[..., pa.Array]  # values._canonicalize(array, plan=, side=, strict=)
_CHAR_TYPES = ("char(", "character(", "bpchar", "nchar(")


def canonical_lists(
    array: pa.Array, *, plan: ColumnPlan, side: str, strict: bool, canonicalize: Canonicalize
) -> pa.Array:
    """The canonical text of each list-like value of ``array`` (one side of a SET-family pair)."""
    separator = plan.list_separator(side)
    odd: dict[int, str] = {}
    if _is_list_type(array.type):
        lengths = pc.fill_null(pc.list_value_length(array), 0).to_pylist()
        valid = pc.is_valid(array).to_pylist()
        elements = pc.list_flatten(array)
    else:
        text = array.cast(pa.string()) if not pa.types.is_string(array.type) else array
        column = plan.source if side == "source" else plan.target
        if column.data_type.lower().startswith(_CHAR_TYPES):  # CHAR(n) padding carries no data
            text = pc.utf8_rtrim(text, characters=" ")
        items: list[str | None] = []
        lengths, valid = [], []
        for index, value in enumerate(text.to_pylist()):
            parsed = None if value is None else _split(value, separator)
            if value is not None and parsed is None:
                odd[index] = "?" + value
            valid.append(parsed is not None)
            lengths.append(len(parsed or ()))
            items.extend(parsed or ())
        elements = pa.array(items, pa.string())
        element_column = plan.element_plan.source if side == "source" else plan.element_plan.target
        if element_column.family is F.BINARY:
            elements = _pg_bytea(elements)
    canonical = canonicalize(elements, plan=plan.element_plan, side=side, strict=strict)
    texts = _element_texts(canonical)
    out: list[str | None] = []
    start = 0
    for index, (length, present) in enumerate(zip(lengths, valid, strict=True)):
        members = texts[start : start + length]
        start += length
        if not present:
            out.append(odd.get(index))
            continue
        if not members and not strict and plan.rule.null_equals_empty:
            out.append(None)
            continue
        if not plan.list_ordered:
            members = sorted({m for m in members if m is not None}) + ([None] if None in members else [])
        out.append(json.dumps(members, ensure_ascii=False, separators=(",", ":")))
    return pa.array(out, pa.string())


def _is_list_type(data_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(data_type)
        or pa.types.is_large_list(data_type)
        or pa.types.is_fixed_size_list(data_type)
        or pa.types.is_list_view(data_type)
        or pa.types.is_large_list_view(data_type)
    )


def _split(value: str, separator: str | None) -> list[str | None] | None:
    """The elements of one value's text: a delimited list, or (``separator`` None) a PostgreSQL
    array literal; None for an array of more than one dimension."""
    if separator is not None:
        return [] if value == "" else list(value.split(separator))
    return pg_array_elements(value)


def pg_array_elements(literal: str) -> list[str | None] | None:
    """The element texts of a one-dimensional PostgreSQL array literal (``{a,"b c",NULL}``,
    ``[0:1]={1,2}``), or None when it has more dimensions or is no array literal."""
    if literal.startswith("["):
        bounds, equals, rest = literal.partition("=")
        if not equals or bounds.count("[") != 1:
            return None
        literal = rest
    if len(literal) < 2 or literal[0] != "{" or literal[-1] != "}":
        return None
    body = literal[1:-1]
    if body == "":
        return []
    try:
        return _elements(body)
    except IndexError:  # an unterminated quote: no literal PostgreSQL writes
        return None


def _elements(body: str) -> list[str | None] | None:
    items: list[str | None] = []
    i, n = 0, len(body)
    while True:
        if body[i] == "{":
            return None  # a nested dimension
        if body[i] == '"':
            i += 1
            chars: list[str] = []
            while body[i] != '"':
                if body[i] == "\\":
                    i += 1
                chars.append(body[i])
                i += 1
            i += 1
            items.append("".join(chars))
        else:
            end = body.find(",", i)
            end = n if end < 0 else end
            token = body[i:end]
            # PostgreSQL quotes a text element spelled NULL: unquoted, it is the NULL element.
            items.append(None if token.upper() == "NULL" else token)
            i = end
        if i >= n:
            return items
        i += 1  # the comma


def _pg_bytea(elements: pa.Array) -> pa.Array:
    # Inside an array literal, bytea elements are their hex text ('\x01ff').
    def decode(text: str) -> bytes:
        return bytes.fromhex(text[2:]) if text.startswith("\\x") else text.encode()

    return pa.array([None if v is None else decode(v) for v in elements.to_pylist()], pa.binary())


def _element_texts(canonical: pa.Array) -> list[Any]:
    """Canonical elements as the texts the JSON array holds (as ``canonical.sqllists`` renders them)."""
    kind = canonical.type
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return [None if v is None else v.hex() for v in canonical.to_pylist()]
    if pa.types.is_floating(kind):
        return [None if v is None else repr(float(v)) for v in canonical.to_pylist()]
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return list(canonical.to_pylist())
    return list(canonical.cast(pa.string()).to_pylist())


def explain_lists(source: str, target: str, *, ordered: bool) -> str | None:
    """What differs between two canonical list texts, in counts only (values go through the
    redactor, messages do not); None when either is no list (a multi-dimensional value)."""
    try:
        left, right = json.loads(source), json.loads(target)
    except ValueError:
        return None
    if not isinstance(left, list) or not isinstance(right, list):
        return None
    lost = sum(1 for element in left if element not in right)
    added = sum(1 for element in right if element not in left)
    shape = "an ordered list" if ordered else "a set"
    if lost or added:
        return f"the target lacks {lost} and adds {added} element(s) (compared as {shape})"
    if len(left) == len(right):
        return "the same elements in another order (compared as an ordered list)"
    return "the same elements, repeated a different number of times (compared as an ordered list)"
