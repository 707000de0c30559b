"""Every row of the type-mapping table, its spelling rules and its rendering in docs/readme/schema.md."""

from __future__ import annotations

import os
import pathlib

import pytest

from pm_pipeline.core.connectors.schema import Column
from pm_pipeline.core.connectors.schema import TypeFamily as F
from pm_pipeline.core.findings import Category
from pm_pipeline.core.schema.profile import ColumnProfile
from pm_pipeline.core.schema.type_map import INCOMPATIBLE, SPELLINGS, TYPE_RULES, type_table_markdown
from pm_pipeline.core.schema.widths import judge_types

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "readme" / "schema.md"
OK, CHANGED, NARROWED, BAD = None, Category.TYPE_CHANGED, Category.TYPE_NARROWED, Category.TYPE_INCOMPATIBLE


def c(data_type: str, family: F, **kw: object) -> Column:
    return Column(name="c", data_type=data_type, family=family, **kw)  # type: ignore[arg-type]


# (rule expected, source column, target column, source engine, target engine, expected category, profile)
CASES = [
    # SQLite kept order dates as TEXT; PostgreSQL timestamp is a real type change, not an error.
    ("sqlite_text_as_typed", c("TEXT", F.TEXT), c("timestamp", F.TIMESTAMP, precision=6), "sqlite", "postgresql", CHANGED, None),
    # SQLite 0/1 flags loaded into a boolean column.
    ("sqlite_integer_as_boolean", c("INTEGER", F.INTEGER), c("boolean", F.BOOLEAN), "sqlite", "postgresql", CHANGED, None),
    # MariaDB int(11) display width is not a width: int(11) -> integer is equal.
    ("integer_width", c("int(11)", F.INTEGER, precision=32), c("integer", F.INTEGER, precision=32), "mysql", "postgresql", OK, None),
    # unsigned int ids above 2^31 overflow a signed int column.
    ("integer_width", c("int(10) unsigned", F.INTEGER, precision=32, unsigned=True), c("integer", F.INTEGER, precision=32), "mysql", "postgresql", NARROWED, None),
    # unsigned int -> bigint is the correct mapping.
    ("integer_width", c("int(10) unsigned", F.INTEGER, precision=32, unsigned=True), c("bigint", F.INTEGER, precision=64), "mysql", "postgresql", OK, None),
    # bigint -> int: the classic truncated id column.
    ("integer_width", c("bigint", F.INTEGER, precision=64), c("integer", F.INTEGER, precision=32), "postgresql", "postgresql", NARROWED, None),
    # decimal(12,2) -> numeric(12,2) is only a spelling difference.
    ("decimal_digits", c("decimal(12,2)", F.DECIMAL, precision=12, scale=2), c("numeric(12,2)", F.DECIMAL, precision=12, scale=2), "mysql", "postgresql", OK, None),
    # numeric(12,4) -> numeric(12,2) rounds prices and rates.
    ("decimal_digits", c("numeric(12,4)", F.DECIMAL, precision=12, scale=4), c("numeric(12,2)", F.DECIMAL, precision=12, scale=2), "postgresql", "postgresql", NARROWED, None),
    # numeric(12,2) -> numeric(8,2) overflows large amounts.
    ("decimal_digits", c("numeric(12,2)", F.DECIMAL, precision=12, scale=2), c("numeric(8,2)", F.DECIMAL, precision=8, scale=2), "postgresql", "duckdb", NARROWED, None),
    # double -> real halves the mantissa.
    ("float_bits", c("double", F.FLOAT, precision=53), c("real", F.FLOAT, precision=24), "mysql", "postgresql", NARROWED, None),
    # varchar(100) -> varchar(50) truncates names.
    ("text_length", c("varchar(100)", F.TEXT, length=100), c("character varying(50)", F.TEXT, length=50), "mysql", "postgresql", NARROWED, None),
    # varchar(n) -> text widens: not flagged.
    ("text_length", c("varchar(255)", F.TEXT, length=255), c("text", F.TEXT), "mysql", "postgresql", OK, None),
    # SQLite TEXT -> varchar(20) with no profile: cannot be verified, INFO.
    ("text_length", c("TEXT", F.TEXT), c("varchar(20)", F.TEXT, length=20), "sqlite", "postgresql", CHANGED, None),
    # SQLite TEXT -> varchar(20) whose data is 40 characters long: truncation.
    ("text_length", c("TEXT", F.TEXT), c("varchar(20)", F.TEXT, length=20), "sqlite", "postgresql", NARROWED, ColumnProfile(F.TEXT, rows=3, max_length=40)),
    # PostgreSQL text -> varchar(20) with no profile: a declared narrowing.
    ("text_length", c("text", F.TEXT), c("varchar(20)", F.TEXT, length=20), "postgresql", "mysql", NARROWED, None),
    # varbinary(32) hashes into binary(16): truncated digests.
    ("binary_length", c("varbinary(32)", F.BINARY, length=32), c("binary(16)", F.BINARY, length=16), "mysql", "mysql", NARROWED, None),
    # MariaDB tinyint(1) -> PostgreSQL boolean (pgloader's default mapping).
    ("boolean", c("tinyint(1)", F.INTEGER, precision=8), c("boolean", F.BOOLEAN), "mysql", "postgresql", OK, None),
    ("date", c("date", F.DATE), c("DATE", F.DATE), "postgresql", "duckdb", OK, None),
    # time(6) -> time(0) drops fractions of event times.
    ("time_precision", c("time(6)", F.TIME, precision=6), c("time", F.TIME, precision=0), "postgresql", "mysql", NARROWED, None),
    # datetime(6) -> timestamp(6) is equal.
    ("timestamp_precision", c("datetime(6)", F.TIMESTAMP, precision=6), c("timestamp(6) without time zone", F.TIMESTAMP, precision=6), "mysql", "postgresql", OK, None),
    # timestamp(6) -> timestamp(3) loses microseconds and breaks ordering ties.
    ("timestamp_precision", c("timestamp(6)", F.TIMESTAMP, precision=6), c("timestamp(3)", F.TIMESTAMP, precision=3), "postgresql", "postgresql", NARROWED, None),
    # PostgreSQL timestamp (6 digits by default) -> MariaDB datetime (0 digits by default).
    ("timestamp_precision", c("timestamp without time zone", F.TIMESTAMP), c("datetime", F.TIMESTAMP), "postgresql", "mysql", NARROWED, None),
    # MySQL TIMESTAMP is an instant: timestamptz is its equal.
    ("timestamptz_precision", c("timestamp", F.TIMESTAMP, precision=0), c("timestamp with time zone", F.TIMESTAMPTZ, precision=6), "mysql", "postgresql", OK, None),
    ("interval", c("interval", F.INTERVAL), c("INTERVAL", F.INTERVAL), "postgresql", "duckdb", OK, None),
    # MariaDB JSON -> PostgreSQL jsonb is equal.
    ("json", c("json", F.JSON), c("jsonb", F.JSON), "mysql", "postgresql", OK, None),
    ("uuid", c("uuid", F.UUID), c("UUID", F.UUID), "postgresql", "duckdb", OK, None),
    # A PostgreSQL enum created without one of the MariaDB labels.
    ("enum_labels", c("enum('new','paid','void')", F.ENUM, enum_values=("new", "paid", "void")), c("order_state", F.ENUM, enum_values=("new", "paid")), "mysql", "postgresql", NARROWED, None),
    # Same labels in a PostgreSQL enum: equal.
    ("enum_labels", c("enum('new','paid')", F.ENUM, enum_values=("new", "paid")), c("order_state", F.ENUM, enum_values=("new", "paid")), "mysql", "postgresql", OK, None),
    # A SET losing a member.
    ("set_labels", c("set('a','b')", F.SET, enum_values=("a", "b")), c("set('a')", F.SET, enum_values=("a",)), "mysql", "mysql", NARROWED, None),
    # enum -> varchar(10) wide enough for 'cancelled'.
    ("enum_as_text", c("enum('new','cancelled')", F.ENUM, enum_values=("new", "cancelled")), c("varchar(10)", F.TEXT, length=10), "mysql", "postgresql", OK, None),
    # enum -> varchar(5) truncates 'cancelled'.
    ("enum_as_text", c("enum('new','cancelled')", F.ENUM, enum_values=("new", "cancelled")), c("varchar(5)", F.TEXT, length=5), "mysql", "postgresql", NARROWED, None),
    # bigint -> numeric(20,0): fits, but arithmetic changes.
    ("integer_to_decimal", c("bigint", F.INTEGER, precision=64), c("numeric(20,0)", F.DECIMAL, precision=20, scale=0), "mysql", "postgresql", CHANGED, None),
    # bigint -> numeric(10,2): overflows.
    ("integer_to_decimal", c("bigint", F.INTEGER, precision=64), c("numeric(10,2)", F.DECIMAL, precision=10, scale=2), "mysql", "postgresql", NARROWED, None),
    # bigint -> double loses ids above 2^53.
    ("integer_to_float", c("bigint", F.INTEGER, precision=64), c("DOUBLE", F.FLOAT, precision=53), "postgresql", "duckdb", NARROWED, None),
    ("integer_to_float", c("int", F.INTEGER, precision=32), c("double precision", F.FLOAT, precision=53), "mysql", "postgresql", CHANGED, None),
    # numeric(10,2) -> integer truncates cents.
    ("decimal_to_integer", c("numeric(10,2)", F.DECIMAL, precision=10, scale=2), c("integer", F.INTEGER, precision=32), "postgresql", "postgresql", NARROWED, None),
    ("decimal_to_integer", c("decimal(9,0)", F.DECIMAL, precision=9, scale=0), c("integer", F.INTEGER, precision=32), "mysql", "postgresql", CHANGED, None),
    ("float_to_decimal", c("double", F.FLOAT, precision=53), c("numeric", F.DECIMAL), "mysql", "postgresql", CHANGED, None),
    ("boolean_to_integer", c("boolean", F.BOOLEAN), c("smallint", F.INTEGER, precision=16), "postgresql", "postgresql", CHANGED, None),
    ("date_to_timestamp", c("date", F.DATE), c("timestamp", F.TIMESTAMP, precision=6), "mysql", "postgresql", CHANGED, None),
    # naive datetime -> timestamptz needs the source zone.
    ("timestamp_to_timestamptz", c("datetime(6)", F.TIMESTAMP, precision=6), c("timestamptz", F.TIMESTAMPTZ, precision=6), "mysql", "postgresql", CHANGED, None),
    ("time_to_interval", c("time", F.TIME, precision=0), c("interval", F.INTERVAL), "mysql", "postgresql", CHANGED, None),
    # MariaDB JSON read as longtext (without the connector's json_valid detection).
    ("text_to_json", c("longtext", F.TEXT, length=4294967295), c("jsonb", F.JSON), "mysql", "postgresql", CHANGED, None),
    # char(36) UUIDs -> uuid.
    ("text_to_uuid", c("char(36)", F.TEXT, length=36), c("uuid", F.UUID), "mysql", "postgresql", CHANGED, None),
    # varchar status -> enum whose labels cover every value: INFO.
    ("text_to_enum", c("varchar(10)", F.TEXT, length=10), c("state", F.ENUM, enum_values=("a", "b")), "postgresql", "postgresql", CHANGED,
     ColumnProfile(F.TEXT, rows=5, distinct=2, top_values=("a", "b"))),
    # varchar status -> enum missing a value that occurs in the data.
    ("text_to_enum", c("varchar(10)", F.TEXT, length=10), c("state", F.ENUM, enum_values=("a",)), "postgresql", "postgresql", NARROWED,
     ColumnProfile(F.TEXT, rows=5, distinct=2, top_values=("a", "b"))),
    ("binary_to_uuid", c("binary(16)", F.BINARY, length=16), c("uuid", F.UUID), "mysql", "postgresql", CHANGED, None),
    ("uuid_to_binary", c("uuid", F.UUID), c("BLOB", F.BINARY), "postgresql", "duckdb", CHANGED, None),
    ("set_to_text_or_json", c("set('a','b')", F.SET, enum_values=("a", "b")), c("text", F.TEXT), "mysql", "postgresql", CHANGED, None),
    # integer -> text: comparisons and sorting become textual.
    ("scalar_to_text", c("int", F.INTEGER, precision=32), c("text", F.TEXT), "mysql", "postgresql", CHANGED, None),
    # datetime(6) rendered into varchar(19) loses the fraction.
    ("scalar_to_text", c("datetime(6)", F.TIMESTAMP, precision=6), c("varchar(19)", F.TEXT, length=19), "mysql", "postgresql", NARROWED, None),
    ("other_type", c("geometry", F.OTHER), c("geometry(Point,4326)", F.OTHER), "mysql", "postgresql", CHANGED, None),
    ("to_other_type", c("text", F.TEXT), c("tsvector", F.OTHER), "postgresql", "postgresql", CHANGED, None),
    # timestamptz -> timestamp without time zone: every instant loses its zone.
    ("timestamptz_to_timestamp", c("timestamptz", F.TIMESTAMPTZ, precision=6), c("timestamp", F.TIMESTAMP, precision=6), "postgresql", "postgresql", NARROWED, None),
    # MariaDB TIMESTAMP -> PostgreSQL timestamp without zone was an ERROR per table, although the
    # connectors read it in UTC and every value agrees: a change, reconciliation checks the values.
    ("mysql_timestamp_to_timestamp", c("timestamp", F.TIMESTAMPTZ, precision=0), c("timestamp", F.TIMESTAMP, precision=6), "mysql", "postgresql", CHANGED, None),
    # ... as long as no fractional digits are lost.
    ("mysql_timestamp_to_timestamp", c("timestamp(6)", F.TIMESTAMPTZ, precision=6), c("timestamp(0)", F.TIMESTAMP, precision=0), "mysql", "postgresql", NARROWED, None),
    ("temporal_to_date", c("datetime", F.TIMESTAMP, precision=0), c("date", F.DATE), "mysql", "postgresql", NARROWED, None),
    # money stored as decimal landing in a float column.
    ("decimal_to_float", c("decimal(12,2)", F.DECIMAL, precision=12, scale=2), c("double precision", F.FLOAT, precision=53), "mysql", "postgresql", NARROWED, None),
    ("float_to_integer", c("double", F.FLOAT, precision=53), c("bigint", F.INTEGER, precision=64), "mysql", "postgresql", NARROWED, None),
    # A status tinyint(4) (not a flag) loaded into boolean: values 2..9 are lost.
    ("integer_to_boolean", c("tinyint(4)", F.INTEGER, precision=8), c("boolean", F.BOOLEAN), "mysql", "postgresql", NARROWED, None),
    # text -> integer: a column loaded into the wrong type.
    ("incompatible", c("text", F.TEXT), c("integer", F.INTEGER, precision=32), "postgresql", "postgresql", BAD, None),
    # bytea -> text would store escaped bytes.
    ("incompatible", c("bytea", F.BINARY), c("text", F.TEXT), "postgresql", "mysql", BAD, None),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "source", "target", "s_engine", "t_engine", "expected", "profile"), CASES)
def test_mapping_table_row(
    rule: str, source: Column, target: Column, s_engine: str, t_engine: str, expected: Category | None,
    profile: ColumnProfile | None,
) -> None:  # fmt: skip
    judgement = judge_types(
        source=source, target=target, source_engine=s_engine, target_engine=t_engine, source_profile=profile
    )
    assert judgement.rule.split(" + ")[-1] == rule
    assert judgement.category == expected, judgement.detail


def test_every_row_of_the_table_has_a_case() -> None:
    covered = {case[0] for case in CASES}
    assert covered == {rule.name for rule in (*TYPE_RULES, INCOMPATIBLE)}


@pytest.mark.parametrize("spelling", SPELLINGS, ids=lambda s: s.name)
def test_every_spelling_rule_applies(spelling: object) -> None:
    cases = {
        # tinyint(1) flags read as integers by a connector must still equal a boolean.
        "mysql_tinyint1_is_boolean": c("tinyint(1)", F.INTEGER, precision=8),
        # bit(1) flags likewise.
        "mysql_bit1_is_boolean": c("bit(1)", F.INTEGER, precision=1),
        # MariaDB TIMESTAMP reported as a naive timestamp is still an instant.
        "mysql_timestamp_is_instant": c("timestamp(3)", F.TIMESTAMP, precision=3),
    }
    name = spelling.name  # type: ignore[attr-defined]
    target = (
        c("timestamptz(3)", F.TIMESTAMPTZ, precision=3) if "timestamp" in name else c("boolean", F.BOOLEAN)
    )
    judgement = judge_types(
        source=cases[name], target=target, source_engine="mysql", target_engine="postgresql"
    )
    assert judgement.category is None and name in judgement.rule
    # The same spelling on PostgreSQL means what its family says.
    other = judge_types(
        source=cases[name], target=target, source_engine="postgresql", target_engine="postgresql"
    )
    assert name not in other.rule


def test_docs_show_the_current_table() -> None:
    """docs/readme/schema.md embeds the rendered table; regenerate with PM_UPDATE_GOLDEN=1."""
    table = type_table_markdown()
    text = DOC.read_text(encoding="utf-8")
    begin, end = "<!-- type-table:begin -->\n", "<!-- type-table:end -->"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    if os.environ.get("PM_UPDATE_GOLDEN") == "1":
        DOC.write_text(head + begin + table + end + tail, encoding="utf-8")
        text = DOC.read_text(encoding="utf-8")
    assert begin + table + end in text
