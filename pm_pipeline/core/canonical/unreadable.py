"""Values that cannot be read as their column's family ('abc' in a loosely typed SQLite INTEGER
column): found, set aside as NULL so the rest of the column is compared, and reported.

A batch is canonicalised whole first; only a batch that fails is split in halves until the
failing values are isolated, so a clean batch costs nothing extra. Text holding a character no
readable value of its family can hold is set aside in one vectorised pass first, so a column of
such text (a whole loosely typed column) costs about what a clean one does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.canonical.values import Side, canonicalize
from pm_pipeline.core.connectors.schema import TypeFamily
from pm_pipeline.core.errors import BadInputError

MAX_RAW_TEXT = 200  # characters of an unreadable value kept in its finding
# Characters outside what Arrow's text casts accept (digits, a sign, '0x' and hex digits; for
# floats a point, an exponent, 'inf', 'infinity' and 'nan' in any case): text holding one cannot
# be read, whatever its shape.
_FOREIGN = {
    TypeFamily.INTEGER: r"[^0-9a-fA-FxX+\-]",
    TypeFamily.FLOAT: r"[^0-9+\-.eEiInNfFtTyYaA]",
}


@dataclass(frozen=True)
class UnreadableCell:
    """One value of one side that could not be read as its column's family."""

    side: Side
    column: str  # the source name of the column
    family: str
    data_type: str  # the side's declared type
    row: int  # index in its batch
    raw: str  # the value as the driver delivered it, as text (cut to MAX_RAW_TEXT)


Found = Callable[[list[UnreadableCell]], None]


def readable_canonical(
    array: pa.Array | pa.ChunkedArray,
    *,
    plan: ColumnPlan,
    side: Side,
    found: Found | None,
    **mode: Any,
) -> tuple[pa.Array, list[int]]:
    """``canonicalize(array, ...)`` with every unreadable value read as NULL, and their indices.

    ``found`` hears of the unreadable values (None: only their indices are returned). A failure
    that no single value explains (a whole-column problem) is raised as before."""
    try:
        return canonicalize(array, plan=plan, side=side, **mode), []
    except BadInputError:
        whole = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
        bad = _find_unreadable(whole, plan=plan, side=side, mode=mode)
        if not bad:
            raise
    column = plan.source if side == "source" else plan.target
    if found is not None:
        raws = whole.take(pa.array(bad, pa.int64())).to_pylist()  # one conversion, not one per value
        family = str(plan.family)
        found([
            UnreadableCell(side=side, column=plan.name, family=family, data_type=column.data_type,
                           row=index, raw=raw_text(raw))
            for index, raw in zip(bad, raws, strict=True)
        ])  # fmt: skip
    mask = pc.is_in(pa.array(range(len(whole)), pa.int64()), value_set=pa.array(bad, pa.int64()))
    nulled = pc.if_else(mask, pa.scalar(None, whole.type), whole)
    return canonicalize(nulled, plan=plan, side=side, **mode), bad


def _find_unreadable(array: pa.Array, *, plan: ColumnPlan, side: Side, mode: dict[str, Any]) -> list[int]:
    sure = _surely_unreadable(array, plan=plan, side=side)
    if sure is None:
        return _unreadable(array, plan=plan, side=side, mode=mode, offset=0)
    found = np.flatnonzero(sure.to_numpy(zero_copy_only=False))
    rest = pc.if_else(sure, pa.scalar(None, array.type), array)
    return sorted([*found.tolist(), *_unreadable(rest, plan=plan, side=side, mode=mode, offset=0)])


def _surely_unreadable(array: pa.Array, *, plan: ColumnPlan, side: Side) -> pa.Array | None:
    """Which text values hold a character their family never reads, or None (no such value, or
    no such test for the family: a value map may turn any text into a readable value)."""
    pattern = _FOREIGN.get(plan.family)
    text = pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
    if pattern is None or not text or (side == "source" and plan.rule.value_map):
        return None
    sure = pc.fill_null(pc.match_substring_regex(pc.utf8_trim_whitespace(array), pattern), False)
    return sure if pc.any(sure).as_py() else None


def _unreadable(
    array: pa.Array, *, plan: ColumnPlan, side: Side, mode: dict[str, Any], offset: int
) -> list[int]:
    """Indices (from ``offset``) of the values of ``array`` that canonicalise on their own only by failing."""
    try:
        canonicalize(array, plan=plan, side=side, **mode)
        return []
    except BadInputError:
        if len(array) == 1:
            return [offset]
    half = len(array) // 2
    return _unreadable(array.slice(0, half), plan=plan, side=side, mode=mode, offset=offset) + _unreadable(
        array.slice(half), plan=plan, side=side, mode=mode, offset=offset + half
    )


def raw_text(value: object) -> str:
    text = value.hex() if isinstance(value, bytes) else str(value)
    return text if len(text) <= MAX_RAW_TEXT else text[: MAX_RAW_TEXT - 3] + "..."
