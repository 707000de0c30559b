"""Columns of every type the pushdown hash renders, with their values and edge cases, per engine (test support)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from pm_pipeline.core.config.spec import ColumnRule
from pm_pipeline.core.connectors.schema import TypeFamily

from .sqlhash_support import Col

F = TypeFamily
UTC = dt.UTC
_chars = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00")
# Digits and ':' spell a field's length prefix: such values must not blur the boundary between fields.
TEXTS = st.text(_chars, max_size=12) | st.text(st.sampled_from("0123456789:N "), max_size=8)
EDGE_TEXTS = (
    "",
    " ",
    "a  ",
    "  a",
    "é",
    "e\u0301",
    "😀",
    "👨‍👩‍👧",
    "中文字",
    "1:",
    ":",
    "N",
    "2:ab",
    "\t\n",
    "ǅ",
)
LATIN1 = st.text(st.characters(min_codepoint=1, max_codepoint=255, exclude_categories=("Cc",)), max_size=12)
CHARS8 = st.text(_chars, max_size=8)
EDGE_CHARS8 = ("", "  ", "a  ", "  a", "😀 ", "12345678", "1:")
INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
EDGE_INT64 = (-(2**63), 2**63 - 1, 0, -1)
BINARY = st.binary(max_size=16)
EDGE_BINARY = (b"", b"\x00", b"\xff\x00", b"1:")
DATES = st.dates(min_value=dt.date(1, 1, 1))
NAIVE = st.datetimes(min_value=dt.datetime(1, 1, 1))
NAIVE_MS = NAIVE.map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
NAIVE_S = NAIVE.map(lambda t: t.replace(microsecond=0))
_ZONES = st.sampled_from(
    [UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(-dt.timedelta(hours=8))]
)
AWARE = st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=_ZONES)
# The range of a MariaDB TIMESTAMP.
MY_INSTANTS = st.datetimes(
    min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2038, 1, 18), timezones=_ZONES
)
EDGE_NAIVE = (
    dt.datetime(1, 1, 1),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
    dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
    dt.datetime(1970, 1, 1),
    dt.datetime(2000, 2, 29, 12, 0, 0, 1),
)
EDGE_DATES = (dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1969, 12, 31), dt.date(1970, 1, 1))
MOOD = ("new", "paid", "1:2", "été", "🚚", "N")
MOOD_SQL = ", ".join(f"'{label}'" for label in MOOD)


def decimals(digits: int, scale: int) -> st.SearchStrategy[Decimal]:
    small = st.integers(-(10**4), 10**4)
    return (st.integers(-(10**digits) + 1, 10**digits - 1) | small).map(lambda n: _scaled(n, scale))


def _scaled(number: int, scale: int) -> Decimal:
    return Decimal(f"{number}E-{scale}")  # exact: arithmetic would round to 28 digits


def decimal_edges(digits: int, scale: int) -> tuple[Decimal, ...]:
    top = 10**digits - 1
    ends = (_scaled(n, scale) for n in (top, -top, 1, -1))
    return (Decimal("-0.00"), Decimal(0), *ends, Decimal(100), Decimal("-12.5"))


ASCII_PADS = ("", " ", "\t", "\n ", "\r\n", "\x0b\x1f")
# PostgreSQL trims only ASCII white space around a UUID held as text (see sqlhash).
UNICODE_PADS = (*ASCII_PADS, "\xa0", "\u3000 ", "\u2028", "\x85")


def uuid_texts(width: int, pads: Sequence[str] = ASCII_PADS) -> st.SearchStrategy[str]:
    """UUIDs as text, in either case, with surrounding white space when ``width`` leaves room."""
    pad = st.sampled_from(pads if width > 36 else [""])
    spelled = st.tuples(st.uuids(), st.booleans(), pad, pad).map(
        lambda t: f"{t[2]}{str(t[0]).upper() if t[1] else t[0]}{t[3]}"
    )
    junk = st.text(st.sampled_from("0123456789abcdefABCDEF-xyz :"), max_size=width)
    return spelled | junk


# MariaDB's UUID type refuses some versions and variants (storing NULL in a non-strict session).
MY_UUIDS = st.sampled_from([1, 3, 4, 5]).flatmap(lambda version: st.uuids(version=version))
UUID_EDGES = (uuid.UUID(int=0), uuid.UUID(int=2**128 - 1))

# Set members and list elements: JSON escapes, the separator, quotes and NULL spelled as text.
ELEMENTS = ("a", "b c", "é", '"q"', "a\\b", "NULL", "x,y", "\x01\x1f", "", "😀")
TAGS = ("a", "b c", "é", "1:2", '"q"', "Z")  # the members of a SET, in definition order
TAGS_SQL = ", ".join("'" + tag.replace("'", "''") + "'" for tag in TAGS)
TAG_SETS = st.sets(st.sampled_from(TAGS)).map(lambda tags: ",".join(t for t in TAGS if t in tags))
TEXT_LISTS = st.lists(st.none() | TEXTS | st.sampled_from(ELEMENTS), max_size=5)
INT_LISTS = st.lists(st.none() | INT32, max_size=5)
EDGE_LISTS = ([], [None], ["b", "a", "b", None], list(ELEMENTS))


PG_COLUMNS = [
    Col("i2", "smallint", st.integers(-(2**15), 2**15 - 1), (-(2**15), 2**15 - 1)),
    Col("i4", "integer", INT32),
    Col("i8", "bigint", INT64, EDGE_INT64),
    Col("n12", "numeric(12,2)", decimals(12, 2), decimal_edges(12, 2)),
    Col("n38", "numeric(38,10)", decimals(38, 10), decimal_edges(38, 10)),
    Col("n180", "numeric(18,0)", decimals(18, 0), decimal_edges(18, 0)),
    # Unconstrained numeric keeps the scale it was given, and holds NaN and infinities.
    Col(
        "n",
        "numeric",
        decimals(20, 6),
        (Decimal("1.500"), Decimal("0E-7"), Decimal("1E+5"), "NaN", "Infinity", "-Infinity"),
    ),
    Col("n_text", "numeric(12,2)", decimals(12, 2), decimal_edges(12, 2), twin=("text", F.TEXT)),
    Col("i_dec", "integer", INT32, (0, -1), twin=("numeric(12,4)", F.DECIMAL)),
    Col("txt", "text", TEXTS, EDGE_TEXTS),
    Col("vc", "varchar(20)", TEXTS, EDGE_TEXTS),
    Col("ch", "char(8)", CHARS8, EDGE_CHARS8),
    Col("flag", "boolean", st.booleans(), (True, False)),
    Col("i_flag", "integer", st.sampled_from([0, 1, 2, -1]), (0, 1, 2, -1), rule=ColumnRule(boolean=True)),
    Col(
        "d",
        "date",
        DATES,
        (*EDGE_DATES, "0001-01-01 BC", "0044-03-15 BC", "12345-06-07", "infinity", "-infinity"),
    ),
    Col(
        "d_ts",
        "date",
        DATES,
        ("0001-12-31 BC", "0044-03-15 BC", "infinity", "-infinity"),
        twin=("timestamp without time zone", F.TIMESTAMP),
    ),
    Col(
        "ts",
        "timestamp",
        NAIVE,
        (*EDGE_NAIVE, "0001-01-01 00:00:00 BC", "12345-01-01 10:00", "infinity", "-infinity"),
    ),
    Col("ts3", "timestamp(3)", NAIVE_MS, EDGE_NAIVE[:3]),
    Col(
        "tstz",
        "timestamptz",
        AWARE,
        (dt.datetime(1, 1, 1, tzinfo=UTC), "0001-01-01 00:00:00+00 BC", "infinity", "-infinity"),
    ),
    Col(
        "ts_tz",
        "timestamp",
        NAIVE,
        (*EDGE_NAIVE, "infinity", "-infinity"),
        twin=("timestamp with time zone", F.TIMESTAMPTZ),
    ),
    Col("by", "bytea", BINARY, EDGE_BINARY),
    Col("u", "uuid", st.uuids(), UUID_EDGES),
    Col("u_text", "text", uuid_texts(40), twin=("uuid", F.UUID)),
    Col("mood", "mood", st.sampled_from(MOOD), MOOD),
    Col("f8", "double precision", st.floats(allow_nan=False), pushed=False),
    Col("doc", "jsonb", st.just('{"b": 1, "a": [1, 2]}'), pushed=False),
    # Arrays arrive as their literal text ('{a,"b c",NULL}'); more than one dimension stays apart.
    Col("arr_t", "text[]", TEXT_LISTS, (*EDGE_LISTS, "{{a,b},{c,d}}", "[0:1]={x,y}")),
    Col("arr_i", "integer[]", INT_LISTS, ([], [3, 1, 3, None], "{{1,2},{3,4}}")),
    Col("arr_n", "numeric(8,2)[]", st.lists(st.none() | decimals(6, 2), max_size=4), ([Decimal("1.50")],)),
    Col("set_i", "integer[]", INT_LISTS, ([3, 1, 3, None, None],), rule=ColumnRule(list_order="unordered")),
    Col(
        "csv",
        "text",
        st.lists(st.sampled_from(ELEMENTS[:4]), max_size=4).map(";".join),
        ("", ";", "b;a;b"),
        rule=ColumnRule(list_separator=";"),
    ),
    Col("arr_ts", "timestamptz[]", st.lists(st.none() | AWARE, max_size=3)),
    # A list kept in CHAR(n): the padding is no element.
    Col(
        "csv_ch",
        "char(12)",
        st.lists(st.sampled_from("ab "), max_size=4).map(",".join),
        ("b,a ",),
        rule=ColumnRule(list_separator=","),
    ),
]

MY_ENUM = f"enum({MOOD_SQL})"
MY_COLUMNS = [
    Col("ti", "tinyint", st.integers(-128, 127), (-128, 127)),
    Col("si", "smallint", st.integers(-(2**15), 2**15 - 1)),
    Col("i4", "int", INT32),
    Col("i8", "bigint", INT64, EDGE_INT64),
    Col("yr", "year", st.integers(1901, 2155), (0, 1901, 2155)),
    Col("u8", "bigint unsigned", st.integers(0, 2**64 - 1), (0, 2**64 - 1)),
    # A MySQL boolean is tinyint(1), which holds any tinyint: 2 and -1 are not true.
    Col("flag", "tinyint(1)", st.integers(-128, 127), (0, 1, 2, -1, 127, -128), twin=("boolean", F.BOOLEAN)),
    Col("n12", "decimal(12,2)", decimals(12, 2), decimal_edges(12, 2)),
    Col("n38", "decimal(38,10)", decimals(38, 10), decimal_edges(38, 10)),
    Col("n124", "decimal(12,4)", decimals(12, 4), decimal_edges(12, 4)),
    Col("n180", "decimal(18,0)", decimals(18, 0), decimal_edges(18, 0)),
    Col("n_text", "decimal(12,2)", decimals(12, 2), decimal_edges(12, 2), twin=("text", F.TEXT)),
    Col("i_dec", "int", INT32, (0, -1), twin=("numeric(12,4)", F.DECIMAL)),
    Col("vc", "varchar(40)", TEXTS, EDGE_TEXTS),
    # Legacy MariaDB schemas are often latin1: the server converts to utf8mb4 on the way out.
    Col("lat", "varchar(20) CHARACTER SET latin1", LATIN1, ("", "é", "a  ", "1:")),
    Col("ch", "char(8)", CHARS8, EDGE_CHARS8),
    Col("tx", "text", TEXTS, EDGE_TEXTS),
    Col("d", "date", DATES, (*EDGE_DATES, "0000-00-00", "0000-01-01", "0000-02-28")),
    Col(
        "d_ts",
        "date",
        DATES,
        ("0000-00-00", "0000-01-01", "0000-12-31"),
        twin=("timestamp without time zone", F.TIMESTAMP),
    ),
    Col(
        "dtm",
        "datetime(6)",
        NAIVE,
        (
            *EDGE_NAIVE,
            "0000-00-00 00:00:00",
            "0000-01-01 00:00:00",
            "0000-02-28 23:59:59.999999",
            "0000-03-01 00:00:00",
        ),
    ),
    Col("dtm0", "datetime", NAIVE_S, (dt.datetime(1, 1, 1), "0000-00-00 00:00:00")),
    Col(
        "tsp",
        "timestamp(6) NULL",
        MY_INSTANTS,
        (
            "0000-00-00 00:00:00",
            dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
            dt.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC),
        ),
    ),
    Col("vb", "varbinary(20)", BINARY, EDGE_BINARY),
    Col("bl", "blob", BINARY, EDGE_BINARY),
    Col("bn", "binary(4)", st.binary(max_size=4), (b"", b"ab")),
    Col("u", "uuid", MY_UUIDS, UUID_EDGES),
    Col("u36", "char(36)", uuid_texts(36), twin=("uuid", F.UUID)),
    Col("u_text", "varchar(40)", uuid_texts(40, UNICODE_PADS), twin=("uuid", F.UUID)),
    # A value outside the ENUM is stored as '' by a non-strict server.
    Col("mood", MY_ENUM, st.sampled_from(MOOD), (*MOOD, "not a member")),
    Col("f8", "double", st.floats(allow_nan=False, allow_infinity=False), pushed=False),
    Col("bits", "bit(8)", st.integers(0, 255), pushed=False),
    # A SET reads as its members in definition order, joined by commas ('' is the empty set).
    Col("tags", f"set({TAGS_SQL})", TAG_SETS, ("", "Z,a", 'a,b c,é,1:2,"q",Z')),
    Col("tags_o", f"set({TAGS_SQL})", TAG_SETS, ("Z,a",), rule=ColumnRule(list_order="ordered")),
    # Text lists: JSON_QUOTE keeps elements apart in order; sorting a set needs our side.
    Col(
        "csv",
        "varchar(60)",
        TEXTS,
        ("", " ", "b;a;", ";", 'x"y;\\;\x01'),
        rule=ColumnRule(list_separator=";"),
    ),
    Col("csv_ch", "char(12)", CHARS8, ("b;a ",), rule=ColumnRule(list_separator=";")),
    Col(
        "csv_set",
        "varchar(40)",
        st.just("b,a"),
        ("",),
        rule=ColumnRule(list_separator=",", list_order="unordered"),
        pushed=False,
    ),
]

DUCK_COLUMNS = [
    Col("ti", "tinyint", st.integers(-128, 127), (-128, 127)),
    Col("i4", "integer", INT32),
    Col("i8", "bigint", INT64, EDGE_INT64),
    Col("u4", "uinteger", st.integers(0, 2**32 - 1), (2**32 - 1,)),
    Col("u8", "ubigint", st.integers(0, 2**64 - 1), (0, 2**64 - 1)),
    Col("n12", "decimal(12,2)", decimals(12, 2), decimal_edges(12, 2)),
    Col("n38", "decimal(38,10)", decimals(38, 10), decimal_edges(38, 10)),
    Col("n124", "decimal(12,4)", decimals(12, 4), decimal_edges(12, 4)),
    Col("n180", "decimal(18,0)", decimals(18, 0), decimal_edges(18, 0)),
    Col("n_text", "decimal(12,2)", decimals(12, 2), decimal_edges(12, 2), twin=("text", F.TEXT)),
    Col("i_dec", "integer", INT32, (0, -1), twin=("numeric(12,4)", F.DECIMAL)),
    Col("vc", "varchar", TEXTS, EDGE_TEXTS),
    # HUGEINT reaches Arrow as decimal128(38, 0).
    Col("i16", "hugeint", INT64, EDGE_INT64),
    Col("flag", "boolean", st.booleans(), (True, False)),
    Col("i_flag", "integer", st.sampled_from([0, 1, 2, -1]), (0, 1, 2, -1), rule=ColumnRule(boolean=True)),
    Col(
        "d",
        "date",
        DATES,
        (*EDGE_DATES, "0001-01-01 (BC)", "0044-03-15 (BC)", "12345-06-07", "infinity", "-infinity"),
    ),
    Col("d_ts", "date", DATES, (*EDGE_DATES, "infinity", "-infinity"), twin=("TIMESTAMP", F.TIMESTAMP)),
    Col(
        "ts",
        "timestamp",
        NAIVE,
        (*EDGE_NAIVE, "infinity", "-infinity", "0001-01-01 (BC) 00:00:00", "0044-03-15 (BC) 12:00:00"),
    ),
    Col("tsz", "timestamptz", AWARE, ("infinity", "-infinity", dt.datetime(1, 1, 1, tzinfo=UTC))),
    Col("tms", "timestamp_ms", NAIVE_MS, EDGE_NAIVE[:3]),
    Col("tsec", "timestamp_s", NAIVE_S, (dt.datetime(1, 1, 1),)),
    Col(
        "tns",
        "timestamp_ns",
        st.datetimes(min_value=dt.datetime(1700, 1, 1), max_value=dt.datetime(2200, 1, 1)),
        pushed=False,
    ),
    Col("bl", "blob", BINARY, EDGE_BINARY),
    Col("u", "uuid", st.uuids(), UUID_EDGES),
    Col("u_text", "varchar", uuid_texts(40, UNICODE_PADS), twin=("uuid", F.UUID)),
    Col("mood", "mood", st.sampled_from(MOOD), MOOD),
    Col("f8", "double", st.floats(), pushed=False),
    Col("li", "integer[]", INT_LISTS, ([], [None], [3, 1, 3])),
    Col("lt", "varchar[]", TEXT_LISTS, EDGE_LISTS),
    Col("lt3", "varchar[2]", st.lists(st.none() | TEXTS, min_size=2, max_size=2), (["b", "a"],)),
    Col("set_t", "varchar[]", TEXT_LISTS, EDGE_LISTS, rule=ColumnRule(list_order="unordered")),
    Col(
        "csv",
        "varchar",
        st.lists(st.sampled_from(ELEMENTS[:4]), max_size=4).map(";".join),
        ("", ";"),
        rule=ColumnRule(list_separator=";"),
    ),
    Col("lf", "double[]", st.lists(st.floats(allow_nan=False), max_size=3), pushed=False),
]


@dataclass(frozen=True)
class Same:
    """One logical column, typed as each engine's migration would type it."""

    name: str
    types: dict[str, str]  # engine -> declared type
    values: st.SearchStrategy[Any]
    on_mariadb: Callable[[Any], Any] = lambda value: value  # how a MariaDB application stored it


SAME = [
    Same("amount", {"pg": "numeric(12,2)", "my": "decimal(12,2)", "duck": "decimal(12,2)"}, decimals(12, 2)),
    Same("big", {"pg": "numeric(38,10)", "my": "decimal(38,10)", "duck": "decimal(38,10)"}, decimals(38, 10)),
    # A quantity widened to numeric on PostgreSQL: integer and decimal compare as decimals.
    Same(
        "qty", {"pg": "numeric(12,4)", "my": "int", "duck": "integer"}, st.integers(-(10**8) + 1, 10**8 - 1)
    ),
    Same("n", {"pg": "bigint", "my": "bigint", "duck": "bigint"}, INT64),
    Same("txt", {"pg": "text", "my": "varchar(100)", "duck": "varchar"}, TEXTS),
    # CHAR padding carries no data: 'ab' in char(8) equals 'ab' in a varchar.
    Same("code", {"pg": "char(8)", "my": "char(8)", "duck": "varchar"}, CHARS8.map(lambda t: t.rstrip(" "))),
    Same("flag", {"pg": "boolean", "my": "tinyint(1)", "duck": "boolean"}, st.booleans()),
    Same("day", {"pg": "date", "my": "date", "duck": "date"}, DATES),
    # A date that MariaDB kept as a DATETIME at midnight.
    Same(
        "day_at",
        {"pg": "date", "my": "datetime(6)", "duck": "date"},
        DATES,
        lambda day: dt.datetime.combine(day, dt.time()) if day else day,
    ),
    Same("at", {"pg": "timestamp", "my": "datetime(6)", "duck": "timestamp"}, NAIVE),
    Same("atz", {"pg": "timestamptz", "my": "timestamp(6) NULL", "duck": "timestamptz"}, MY_INSTANTS),
    Same("bin", {"pg": "bytea", "my": "varbinary(64)", "duck": "blob"}, BINARY),
    Same("u", {"pg": "uuid", "my": "uuid", "duck": "uuid"}, MY_UUIDS),
    # UUIDs that a MariaDB application kept in CHAR(36), upper case.
    Same(
        "u36",
        {"pg": "uuid", "my": "char(36)", "duck": "uuid"},
        st.uuids(),
        lambda u: str(u).upper() if u else u,
    ),
    Same("mood", {"pg": "mood", "my": MY_ENUM, "duck": "mood"}, st.sampled_from(MOOD)),
    # A MySQL SET migrated to a text array (compared as sets) or a DuckDB list (ordered lists).
    Same(
        "tags",
        {"pg": "text[]", "my": f"set({TAGS_SQL})", "duck": "varchar[]"},
        st.sets(st.sampled_from(TAGS)).map(lambda tags: [t for t in TAGS if t in tags]),
        lambda tags: None if tags is None else ",".join(tags),
    ),
]
