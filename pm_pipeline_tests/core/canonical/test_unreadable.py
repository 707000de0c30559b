"""Which values of a column cannot be read as its family: text the family never reads is set aside
in one pass, the rest is isolated by halving, and every readable value keeps its canonical form."""

from __future__ import annotations

import pyarrow as pa

from pm_pipeline.core.canonical import ColumnPlan, comparison_family
from pm_pipeline.core.canonical.unreadable import UnreadableCell, readable_canonical
from pm_pipeline.core.config.spec import ColumnRule
from pm_pipeline.core.connectors.schema import Column, TypeFamily


def _plan(family: TypeFamily, rule: ColumnRule | None = None) -> ColumnPlan:
    column = Column("qty", str(family), family)
    rule = rule or ColumnRule()
    return ColumnPlan(
        source=column,
        target=column,
        family=comparison_family(column, column, rule),
        rule=rule,
        source_zone="UTC",
        target_zone="UTC",
    )


# Each value stands for a shape seen in loosely typed legacy columns: text with foreign characters
# (set aside in one pass), text made only of hex letters ('abc', found by halving), hex text Arrow
# reads ('0x1F'), padding, a number too large for 64 bits (found by halving) and NULL.
def test_unreadable_integers_are_found_whatever_their_shape() -> None:
    raw = pa.array(["1", "q2", "abc", " 4 ", "0x1F", "99999999999999999999", None, "3 units", "7"])
    cells: list[UnreadableCell] = []
    canonical, bad = readable_canonical(
        raw, plan=_plan(TypeFamily.INTEGER), side="source", found=cells.extend, strict=False
    )
    assert bad == [1, 2, 5, 7]
    assert [c.raw for c in cells] == ["q2", "abc", "99999999999999999999", "3 units"]
    assert canonical.to_pylist() == [1, None, None, 4, 31, None, None, None, 7]


def test_a_whole_column_of_text_is_unreadable_value_by_value() -> None:
    raw = pa.array([f"q{i}" for i in range(10_000)])
    canonical, bad = readable_canonical(
        raw, plan=_plan(TypeFamily.FLOAT), side="target", found=None, strict=False
    )
    assert bad == list(range(10_000))
    assert canonical.null_count == 10_000


def test_floats_keep_their_spellings_readable() -> None:
    raw = pa.array(["1.5", "-Infinity", "nan", "1e3", "+2", "1,5"])
    canonical, bad = readable_canonical(
        raw, plan=_plan(TypeFamily.FLOAT), side="source", found=None, strict=False
    )
    assert bad == [5]
    assert canonical.to_pylist()[:5][0] == 1.5 and canonical.to_pylist()[3:5] == [1000.0, 2.0]


def test_a_value_map_may_make_any_text_readable() -> None:
    rule = ColumnRule(value_map={"none": 0})
    raw = pa.array(["none", "1", "x"])
    canonical, bad = readable_canonical(
        raw, plan=_plan(TypeFamily.INTEGER, rule), side="source", found=None, strict=False
    )
    assert bad == [2]
    assert canonical.to_pylist() == [0, 1, None]
