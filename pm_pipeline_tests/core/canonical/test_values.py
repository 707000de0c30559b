"""canonicalize() per family: decimals, instants with zones and DST gaps, zero dates, JSON, sets, UUIDs, booleans, text rules."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pm_pipeline.core.canonical import ColumnPlan, canonicalize, comparison_family
from pm_pipeline.core.canonical.compare import CellResult, compare_cells
from pm_pipeline.core.canonical.values import ZERO_INSTANT
from pm_pipeline.core.config.spec import ColumnRule
from pm_pipeline.core.connectors.schema import Column, TypeFamily
from pm_pipeline.core.errors import BadInputError

F = TypeFamily


def plan(
    source: Column,
    target: Column | None = None,
    *,
    rule: ColumnRule | None = None,
    source_zone: str = "UTC",
    target_zone: str = "UTC",
) -> ColumnPlan:
    target = target or source
    rule = rule or ColumnRule()
    return ColumnPlan(
        source=source,
        target=target,
        family=comparison_family(source, target, rule),
        rule=rule,
        source_zone=source_zone,
        target_zone=target_zone,
    )


def canon(
    values: list[Any],
    column_plan: ColumnPlan,
    arrow_type: pa.DataType | None = None,
    *,
    strict: bool = False,
    for_cells: bool = False,
) -> list[Any]:
    return canonicalize(
        pa.array(values, arrow_type), plan=column_plan, side="source", strict=strict, for_cells=for_cells
    ).to_pylist()


DECIMAL = Column("amount", "numeric(12,4)", F.DECIMAL, precision=12, scale=4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1E+2", "100"),  # MySQL/Oracle drivers render large round numbers with an exponent
        ("-0.00", "0"),  # a negative zero must not differ from zero
        ("007.50", "7.5"),  # zero-padded legacy text
        ("12.3400", "12.34"),  # NUMERIC(12,4) vs NUMERIC(12,2) of the same value
        ("+3", "3"),
        ("-.5", "-0.5"),
        ("1.5e-3", "0.0015"),
        ("100", "100"),  # trailing zeros of an integer are significant digits, not scale
        ("  42.10 ", "42.1"),
        ("not a number", "?not a number"),  # kept visible, never equal to a real number
    ],
)
def test_decimal_text_is_normalised(text: str, expected: str) -> None:
    assert canon([text], plan(DECIMAL)) == [expected]


def test_decimal_from_arrow_decimal_and_float() -> None:
    assert canon([Decimal("12.3400"), Decimal("-0.0000"), None], plan(DECIMAL), pa.decimal128(12, 4)) == [
        "12.34",
        "0",
        None,
    ]
    assert canon([0.1, 2.5e20], plan(DECIMAL), pa.float64()) == ["0.1", "250000000000000000000"]


TS = Column("at", "timestamp", F.TIMESTAMP)
TSTZ = Column("at", "timestamptz", F.TIMESTAMPTZ)


def micros(*args: int, tz: dt.tzinfo = dt.UTC) -> int:
    return int(dt.datetime(*args, tzinfo=tz).timestamp() * 1_000_000)  # type: ignore[misc]


def test_naive_timestamps_are_read_in_the_declared_zone() -> None:
    paris = plan(TS, TSTZ, source_zone="Europe/Paris")
    naive = [dt.datetime(2024, 1, 15, 9, 30), dt.datetime(2024, 7, 1, 12, 0)]
    assert canon(naive, paris, pa.timestamp("us")) == [micros(2024, 1, 15, 8, 30), micros(2024, 7, 1, 10, 0)]
    assert canon(["2024-01-15 09:30:00"], paris) == [micros(2024, 1, 15, 8, 30)]


def test_dst_gap_and_overlap_are_resolved_not_raised() -> None:
    paris = plan(TS, TSTZ, source_zone="Europe/Paris")
    # 02:30 on 2024-03-31 does not exist in Paris (clocks jump 02:00 -> 03:00): read as the later side.
    # 02:30 on 2024-10-27 happens twice: read as the earlier (summer time) one.
    assert canon(["2024-03-31 02:30:00", "2024-10-27 02:30:00"], paris) == [
        micros(2024, 3, 31, 1, 0),
        micros(2024, 10, 27, 0, 30),
    ]


def test_offsets_in_text_win_over_the_zone_and_driver_spellings_agree() -> None:
    paris = plan(TSTZ, source_zone="Europe/Paris")
    expected = micros(2024, 1, 1, 10, 0)
    assert (
        canon(["2024-01-01 11:00:00+01", "2024-01-01 10:00:00+00:00", "2024-01-01T10:00:00Z"], paris)
        == [expected] * 3
    )
    aware = pa.array([dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC)], pa.timestamp("us", tz="Etc/UTC"))
    assert canonicalize(aware, plan=paris, side="source", strict=True).to_pylist() == [expected]


def test_instant_columns_ignore_the_endpoint_zone() -> None:
    # MySQL TIMESTAMP arrives as naive text in a UTC session; the zone is for DATETIME columns.
    column = plan(TSTZ, TSTZ, source_zone="Europe/Paris")
    assert canon(["2024-01-01 10:00:00"], column) == [micros(2024, 1, 1, 10, 0)]


def test_mixed_offsets_and_naive_text_are_rejected() -> None:
    with pytest.raises(BadInputError, match="mixes"):
        canon(["2024-01-01 10:00:00+00", "2024-01-01 10:00:00"], plan(TS))


def test_zero_dates() -> None:
    rule = ColumnRule(zero_date="null")
    values = ["0000-00-00 00:00:00", "2024-05-01 00:00:00", None]
    assert canon(values, plan(TS), for_cells=True) == [ZERO_INSTANT, micros(2024, 5, 1), None]
    assert canon(values, plan(TS, rule=rule), for_cells=True) == [None, micros(2024, 5, 1), None]
    assert canon(values, plan(TS, rule=rule), strict=True)[0] == ZERO_INSTANT
    # Hashes keep a zero date apart: its row is compared cell by cell, and counted under the rule.
    assert canon(values, plan(TS, rule=rule))[0] == ZERO_INSTANT
    date = Column("d", "date", F.DATE)
    assert canon(["0000-00-00", "2024-05-01"], plan(date, rule=rule), for_cells=True) == [None, "2024-05-01"]
    assert canon(["0000-00-00"], plan(date), for_cells=True) == ["0000-00-00"]
    # A MariaDB date maps by default; zero_date: strict keeps it.
    my_date = Column("d", "date", F.DATE, zero_dates=True)
    assert canon(["0000-00-00"], plan(my_date), for_cells=True) == [None]
    assert canon(["0000-00-00"], plan(my_date, rule=ColumnRule(zero_date="strict")), for_cells=True) == [
        "0000-00-00"
    ]


def test_timestamp_precision_truncates_both_sides() -> None:
    column = plan(TS, rule=ColumnRule(timestamp_precision="s"))
    assert canon(["2024-01-01 10:00:00.999999"], column) == [micros(2024, 1, 1, 10, 0)]


def test_json_key_order_and_spacing_do_not_matter() -> None:
    column = plan(Column("doc", "jsonb", F.JSON))
    a = canon(['{"b": [1, 2], "a": {"y": 1, "x": "é"}}'], column)
    b = canon(['{"a":{"x":"é","y":1},"b":[1,2]}'], column)
    assert a == b == ['{"a":{"x":"é","y":1},"b":[1,2]}']
    assert canon(['{"b": [2, 1]}'], column) != canon(['{"b": [1, 2]}'], column)  # array order is data
    assert canon(["{broken"], column) == ["?{broken"]


def test_set_members_are_sorted() -> None:
    column = plan(Column("tags", "set('a','b','c')", F.SET), Column("tags", "text", F.TEXT))
    assert canon(["c,a", "a,b,c", "", None], column) == ['["a","c"]', '["a","b","c"]', "[]", None]


def test_uuid_from_binary_and_text() -> None:
    value = uuid.UUID("12345678-9abc-def0-1234-56789abcdef0")
    binary = plan(Column("u", "binary(16)", F.UUID))
    assert canon([value.bytes], binary, pa.binary(16)) == [str(value)]
    assert canon([" 12345678-9ABC-DEF0-1234-56789ABCDEF0 "], binary) == [str(value)]


@pytest.mark.parametrize(
    ("values", "arrow_type"),
    [
        (["Y", "N", "y", "n"], pa.string()),  # legacy CHAR(1) flags
        ([1, 0, 1, 0], pa.int8()),  # MySQL tinyint(1) through connectorx
        (["1", "0", "t", "f"], pa.string()),  # PostgreSQL boolean as text
        ([True, False, True, False], pa.bool_()),
    ],
)
def test_booleans_from_any_spelling(values: list[Any], arrow_type: pa.DataType) -> None:
    column = plan(
        Column("b", "char(1)", F.TEXT), Column("b", "boolean", F.BOOLEAN), rule=ColumnRule(boolean=True)
    )
    assert canon(values, column, arrow_type) == ["true", "false", "true", "false"]
    assert canon(["maybe"], column) == ["?maybe"]


@pytest.mark.parametrize(
    ("source_type", "family", "expected"),
    [
        ("tinyint(1)", F.INTEGER, F.BOOLEAN),  # MariaDB BOOL -> PostgreSQL boolean
        ("tinyint(1) unsigned", F.INTEGER, F.BOOLEAN),
        ("bit(1)", F.INTEGER, F.BOOLEAN),
        ("tinyint(4)", F.INTEGER, F.TEXT),  # a real small integer is not a flag
    ],
)
def test_boolean_detection(source_type: str, family: TypeFamily, expected: TypeFamily) -> None:
    source = Column("b", source_type, family)
    target = Column("b", "boolean", F.BOOLEAN)
    assert comparison_family(source, target, ColumnRule()) is expected


def test_leading_zeros_compare_as_text() -> None:
    column = plan(Column("zip", "varchar(5)", F.TEXT), Column("zip", "integer", F.INTEGER))
    assert column.family is F.TEXT
    result = compare_cells(column, pa.array(["00123", "123"]), pa.array([123, 123], pa.int64()))
    assert result.results == [CellResult.DIFFERENT, CellResult.EXACT]


def test_char_padding_is_not_data_but_varchar_spaces_are() -> None:
    char = plan(Column("c", "char(5)", F.TEXT), Column("c", "varchar(5)", F.TEXT))
    assert compare_cells(char, pa.array(["ab   "]), pa.array(["ab"])).results == [CellResult.EXACT]
    varchar = plan(Column("c", "varchar(5)", F.TEXT))
    assert compare_cells(varchar, pa.array(["ab  "]), pa.array(["ab"])).results == [CellResult.DIFFERENT]


@pytest.mark.parametrize(
    ("rule", "source", "target"),
    [
        (ColumnRule(trim=True), " a ", "a"),
        (ColumnRule(case_insensitive=True), "Ann@X.com", "ann@x.com"),
        (ColumnRule(unicode_nfc=True), "Zoe\u0308", "Zo\u00eb"),
        (ColumnRule(null_equals_empty=True), None, ""),
        (ColumnRule(value_map={"A": "active"}), "A", "active"),
    ],
)
def test_text_rules_give_equal_under_rule(rule: ColumnRule, source: str | None, target: str | None) -> None:
    text = Column("t", "text", F.TEXT)
    result = compare_cells(
        plan(text, rule=rule), pa.array([source], pa.string()), pa.array([target], pa.string())
    )
    assert result.results == [CellResult.UNDER_RULE]
    unruled = compare_cells(plan(text), pa.array([source], pa.string()), pa.array([target], pa.string()))
    assert unruled.results == [CellResult.DIFFERENT]


def test_float_tolerance() -> None:
    column = plan(Column("f", "double", F.FLOAT), rule=ColumnRule(rel_tolerance=1e-6))
    result = compare_cells(
        column, pa.array([1.0, 1.0, float("nan"), None]), pa.array([1.0000001, 1.01, float("nan"), None])
    )
    assert result.results == [CellResult.UNDER_RULE, CellResult.DIFFERENT, CellResult.EXACT, CellResult.EXACT]


_DECIMAL_TEXTS = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
    st.from_regex(r"-?[0-9]{1,4}(\.[0-9]{0,4})?", fullmatch=True),
    st.sampled_from(
        ["0", "-0", "0.00", "-0.00", "00", "05.0", "-.5", ".5", "5.", "1E+2", "+3", "0-1", "1e3"]
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), _DECIMAL_TEXTS), min_size=1, max_size=30))
def test_decimal_batches_match_the_value_by_value_normalisation(values: list[str | None]) -> None:
    # A leading blank sends a value down the general path (trim, then the full shape test).
    expected = [None if v is None else canon([" " + v], plan(DECIMAL))[0] for v in values]
    assert canon(values, plan(DECIMAL)) == expected


def _hash_text(
    values: list[Any], column_plan: ColumnPlan, arrow_type: pa.DataType | None = None
) -> list[Any]:
    array = pa.array(values, arrow_type)
    return canonicalize(array, plan=column_plan, side="source", strict=False, for_hash=True).to_pylist()


def _decimal_value(text: str) -> Decimal | str:
    try:
        value = Decimal(text.strip())
    except ArithmeticError:
        return "?" + text
    return value if value.is_finite() else str(value)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=4),
    st.lists(st.one_of(st.none(), _DECIMAL_TEXTS, st.sampled_from(["NaN", "1.23456", "0.0001"])), min_size=1),
    st.booleans(),
)
def test_decimal_hash_text_is_equal_exactly_for_equal_values(
    scale: int, values: list[str | None], fixed: bool
) -> None:
    # Both sides declare DECIMAL(12, scale): values are hashed as text with ``scale`` digits.
    column = Column("amount", f"decimal(12,{scale})", F.DECIMAL, precision=12, scale=scale)
    if fixed:  # as a database renders the column: exactly ``scale`` fractional digits
        values = [
            None
            if v is None or not isinstance(_decimal_value(v), Decimal)
            else f"{_decimal_value(v):.{scale}f}"
            for v in values
        ]
    hashed = _hash_text(values, plan(column))
    one_by_one = [_hash_text([v], plan(column))[0] for v in values]
    assert hashed == one_by_one  # a value's text does not depend on its batch
    for i, a in enumerate(values):
        for j, b in enumerate(values):
            if a is None or b is None:
                assert (hashed[i] is None) == (a is None) and (hashed[j] is None) == (b is None)
                continue
            same = _decimal_value(a) == _decimal_value(b)
            assert (hashed[i] == hashed[j]) == same, (a, b, hashed[i], hashed[j])


def test_decimal_hash_text_keeps_database_renderings_and_rewrites_the_rest() -> None:
    column = plan(Column("amount", "numeric(12,2)", F.DECIMAL, precision=12, scale=2))
    rendered = pa.array(["58762.74", "-0.50", "0.00", None, "100.00"])
    hashed = canonicalize(rendered, plan=column, side="source", strict=False, for_hash=True)
    assert hashed is rendered  # already in the form: not copied
    assert _hash_text(["-0.00", "5", "05.5", "1E+2", "NaN", "0.001", " 7.10"], column) == [
        "0.00",
        "5.00",
        "5.50",
        "100.00",
        "NaN",
        "0.001",  # more digits than the scale: its canonical text, unlike any rewritten value
        "7.10",
    ]
    # Sliced batches (a reader slicing its driver's batches) read their own characters only.
    assert _hash_text(["1.5", "2.50"], column) == ["1.50", "2.50"]
    sliced = pa.array(["bad", "12.30", "-4.00", "7"]).slice(1, 2)
    assert canonicalize(sliced, plan=column, side="source", strict=False, for_hash=True).to_pylist() == [
        "12.30",
        "-4.00",
    ]
    # Arrow decimals (file and DuckDB readers) and differing scales.
    assert _hash_text([Decimal("1.20"), None], column, pa.decimal128(12, 2)) == ["1.20", None]
    other = plan(column.source, Column("amount", "numeric(12,3)", F.DECIMAL, precision=12, scale=3))
    assert _hash_text(["1.50"], other) == ["1.5"]  # no common scale: the canonical text


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)).map(str),
            st.sampled_from(["0000-00-00 00:00:00", "2024-01-15", "2024-01-15 10:00:00+02:00"]),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_timestamp_batches_match_the_value_by_value_reading(values: list[str | None]) -> None:
    column = plan(TS)

    def one(value: str) -> Any:
        try:
            return canon([" " + value], column)[0]
        except BadInputError:
            return "error"

    expected = [None if v is None else one(v) for v in values]
    real = [v for v in values if v is not None and not v.startswith("0000-00-00")]
    if "error" in expected or len({v.endswith("+02:00") for v in real}) > 1:
        with pytest.raises(BadInputError):
            canon(values, column)
    else:
        assert canon(values, column) == expected


def test_integer_flags_with_nulls_and_strays() -> None:
    column = plan(Column("b", "tinyint(1)", F.BOOLEAN))
    assert canon([1, None, 0], column, pa.int8()) == ["true", None, "false"]
    assert canon([None, None], column, pa.int8()) == [None, None]
    assert canon([1, 2, -1, None], column, pa.int8()) == ["true", "?2", "?-1", None]


MY_DATETIME = Column("at", "datetime", F.TIMESTAMP, precision=0)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(), st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 31))
        ),
        min_size=1,
        max_size=20,
    ),
    st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
)
def test_packed_mysql_datetimes_read_as_their_text(values: list[dt.datetime | None], zone: str) -> None:
    # MariaDB sends DATETIME as YYYYMMDDhhmmss for hashing; it must canonicalise like its text.
    column = plan(MY_DATETIME, source_zone=zone)
    stamps = [None if v is None else v.replace(microsecond=0) for v in values]
    packed = [None if v is None else int(v.strftime("%Y%m%d%H%M%S")) for v in stamps]
    text = [None if v is None else v.strftime("%Y-%m-%d %H:%M:%S") for v in stamps]
    assert canon(packed, column, pa.uint64()) == canon(text, column)


def test_packed_zero_and_impossible_datetimes() -> None:
    column = plan(MY_DATETIME)
    assert canon([0, 20240229235959], column, pa.uint64()) == [ZERO_INSTANT, micros(2024, 2, 29, 23, 59, 59)]
    assert canon([0], plan(MY_DATETIME, rule=ColumnRule(zero_date="null")), pa.uint64(), for_cells=True) == [
        None
    ]
    for impossible in (20230229000000, 20241301000000, 20240101240000):
        with pytest.raises(BadInputError, match="no such date and time"):
            canon([impossible], column, pa.uint64())
    # a zero day or month is a legacy value of its own (test_partly_zero_dates.py), not an error
    (legacy,) = canon([20240100000000], column, pa.uint64())
    assert ZERO_INSTANT < legacy < micros(1, 1, 1)
