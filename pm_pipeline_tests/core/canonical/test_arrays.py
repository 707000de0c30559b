"""The SET family's canonical form: PostgreSQL array literals, sets against ordered lists, NULL against empty, elements in their own family."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from pm_pipeline.core.canonical import ColumnPlan, canonicalize, comparison_family
from pm_pipeline.core.canonical.arrays import explain_lists, pg_array_elements
from pm_pipeline.core.config.spec import ColumnRule
from pm_pipeline.core.connectors.schema import Column, TypeFamily

F = TypeFamily


def _array(name: str, element_type: str, family: TypeFamily) -> Column:
    return Column(name, f"{element_type}[]", F.OTHER, element=Column(name, element_type, family))


MYSQL_SET = Column("tags", "set('a','b','c')", F.SET, enum_values=("a", "b", "c"))
PG_TEXT = _array("tags", "text", F.TEXT)


def _canon(
    values: list[Any], source: Column, target: Column, rule: ColumnRule | None = None, **kw: Any
) -> Any:
    rule = rule or ColumnRule()
    family = comparison_family(source, target, rule)
    plan = ColumnPlan(
        source=source, target=target, family=family, rule=rule, source_zone="UTC", target_zone="UTC"
    )
    array = pa.array(values, kw.get("arrow_type"))
    return canonicalize(
        array, plan=plan, side=kw.get("side", "source"), strict=kw.get("strict", True)
    ).to_pylist()


@pytest.mark.parametrize(
    ("literal", "elements"),
    [
        ("{}", []),
        ("{a,b}", ["a", "b"]),
        # Quoted elements: separators, quotes, backslashes and the word NULL are data.
        ('{"a,b","x \\"y\\"","a\\\\b","NULL",NULL}', ["a,b", 'x "y"', "a\\b", "NULL", None]),
        ('{""," "}', ["", " "]),
        # Non-default lower bounds carry no element.
        ("[0:1]={7,8}", ["7", "8"]),
        # More dimensions, or no array at all, are not one list.
        ("{{1,2},{3,4}}", None),
        ("[1:2][1:1]={{1},{2}}", None),
        ("a,b", None),
        ('{"unterminated}', None),
    ],
)
def test_postgres_array_literals(literal: str, elements: list[str | None] | None) -> None:
    assert pg_array_elements(literal) == elements


def test_a_set_against_an_array_ignores_order_and_duplicates() -> None:
    # MySQL SET '' is the empty set, PostgreSQL '{}' the empty array: both '[]'; NULL stays NULL.
    assert _canon(["b,a", "", None, "c"], MYSQL_SET, PG_TEXT) == ['["a","b"]', "[]", None, '["c"]']
    arrays = _canon(["{b,a}", "{}", None, "{c,c}"], MYSQL_SET, PG_TEXT, side="target")
    assert arrays == ['["a","b"]', "[]", None, '["c"]']


def test_arrays_on_both_sides_keep_their_order_unless_declared_unordered() -> None:
    duck = Column("v", "INTEGER[]", F.OTHER, element=Column("v", "INTEGER", F.INTEGER))
    pg = _array("v", "integer", F.INTEGER)
    lists = [[3, 1, 3, None], [], None]
    ordered = _canon(lists, duck, pg, arrow_type=pa.list_(pa.int32()))
    assert ordered == ['["3","1","3",null]', "[]", None]
    unordered = _canon(lists, duck, pg, ColumnRule(list_order="unordered"), arrow_type=pa.list_(pa.int32()))
    assert unordered == ['["1","3",null]', "[]", None]
    # PostgreSQL's literal of the same values gives the same text.
    assert _canon(["{3,1,3,NULL}"], pg, duck) == ['["3","1","3",null]']


def test_elements_are_canonical_in_their_own_family() -> None:
    # numeric(8,2)[] renders '1.50'; a DuckDB DECIMAL list holds 1.5: the same number.
    pg = _array("n", "numeric(8,2)", F.DECIMAL)
    duck = Column("n", "DECIMAL(8,2)[]", F.OTHER, element=Column("n", "DECIMAL(8,2)", F.DECIMAL))
    assert _canon(["{1.50,-0.00}"], pg, duck) == _canon(
        [[Decimal("1.5"), Decimal("0")]], duck, pg, arrow_type=pa.list_(pa.decimal128(8, 2))
    )
    # timestamptz[] renders each instant with an offset; booleans as t/f; bytea as hex text.
    instants = _array("t", "timestamp with time zone", F.TIMESTAMPTZ)
    assert _canon(['{"2024-01-01 08:00:00+00"}'], instants, instants) == ['["1704096000000000"]']
    flags = _array("f", "boolean", F.BOOLEAN)
    assert _canon(["{t,f,NULL}"], flags, flags) == ['["true","false",null]']
    blobs = _array("b", "bytea", F.BINARY)
    assert _canon(['{"\\\\x01ff"}'], blobs, blobs) == ['["01ff"]']


def test_declared_text_lists_and_their_text_rules() -> None:
    text = Column("tags", "varchar(40)", F.TEXT)
    rule = ColumnRule(list_separator=";", trim=True)
    assert _canon(["b; a", "", None], text, PG_TEXT, rule, strict=False) == ['["b","a"]', "[]", None]
    assert _canon(["b; a"], text, PG_TEXT, rule, strict=True) == ['["b"," a"]']
    # CHAR(n) pads the list with spaces the SQL rendering drops (bpchar::text).
    padded = Column("tags", "character(8)", F.TEXT)
    assert _canon(["b;a   "], padded, PG_TEXT, ColumnRule(list_separator=";")) == ['["b","a"]']
    empty_is_null = ColumnRule(list_separator=";", null_equals_empty=True)
    assert _canon([""], text, PG_TEXT, empty_is_null, strict=False) == [None]


def test_a_multidimensional_value_equals_only_itself() -> None:
    pg = _array("v", "integer", F.INTEGER)
    assert _canon(["{{1,2},{3,4}}", "{1,2,3,4}"], pg, pg) == ["?{{1,2},{3,4}}", '["1","2","3","4"]']


def test_explanations_count_elements_without_showing_them() -> None:
    assert explain_lists('["a","b"]', '["a"]', ordered=False) == (
        "the target lacks 1 and adds 0 element(s) (compared as a set)"
    )
    assert explain_lists('["1","2"]', '["2","1"]', ordered=True) == (
        "the same elements in another order (compared as an ordered list)"
    )
    assert "repeated" in (explain_lists('["1","1"]', '["1"]', ordered=True) or "")
    assert explain_lists("?{{1}}", '["1"]', ordered=True) is None
