"""The canonical-text section of each SQL dialect, run on its own engine: the primitives the family ->
SQL tree is written over, row hashes, buckets, tolerance bins, lists, fingerprints and capabilities."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pm_pipeline.core.canonical.sqlbins import bin_text_sql, typed_bin_sql
from pm_pipeline.core.canonical.sqltext import ARROW_WHITE_SPACE, MASK60, field_sql, hash60_sql
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.dialects import ENGINES, Dialect, dialect_for
from pm_pipeline.core.reconcile import sqlhash
from pm_pipeline_tests.conftest import make_mariadb_database, make_pg_database

HASHING = ("postgresql", "mysql", "duckdb")
INFINITE = str(2**63 - 1)
# Per engine: how a literal of each kind is typed (MariaDB's CAST knows few type names).
TYPES = {
    "postgresql": {"dec": "numeric(12,4)", "char": "char(5)", "uuid": "uuid", "date": "date",
                   "ts": "timestamp", "bytes": "bytea", "double": "float8", "int": "bigint", "text": "text"},
    "mysql": {"dec": "DECIMAL(12,4)", "char": "CHAR", "uuid": "CHAR", "date": "DATE",
              "ts": "DATETIME(6)", "bytes": "BINARY", "double": "DOUBLE", "int": "SIGNED", "text": "CHAR"},
    "duckdb": {"dec": "DECIMAL(12,4)", "char": "VARCHAR", "uuid": "UUID", "date": "DATE",
               "ts": "TIMESTAMP", "bytes": "BLOB", "double": "DOUBLE", "int": "BIGINT", "text": "VARCHAR"},
}  # fmt: skip


class Engine:
    """One engine evaluating expressions over a one-row table ``v`` with column ``c``."""

    def __init__(self, name: str, query: Callable[[str], list[tuple[Any, ...]]]) -> None:
        self.name = name
        self.dialect = dialect_for(name)
        self.query = query

    @property
    def c(self) -> str:
        return self.dialect.quote("c")

    def value(self, expression: Callable[[Dialect, str], str], literal: str, kind: str) -> Any:
        """``expression(dialect, c)`` over ``c = CAST(literal AS <kind's type>)``."""
        typed = f"CAST({literal} AS {TYPES[self.name][kind]})"
        sql = f"SELECT {expression(self.dialect, self.c)} FROM (SELECT {typed} AS {self.c}) v"
        return self.query(sql)[0][0]


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, Engine]]:
    with ExitStack() as stack:
        pg = stack.enter_context(contextmanager(make_pg_database)())
        my = stack.enter_context(contextmanager(make_mariadb_database)())
        duck = duckdb.connect()
        stack.callback(duck.close)
        yield {
            "postgresql": Engine("postgresql", pg.query),
            "mysql": Engine("mysql", my.query),
            "duckdb": Engine("duckdb", lambda sql: duck.execute(sql).fetchall()),
        }


@pytest.fixture(params=HASHING)
def engine(request: pytest.FixtureRequest, engines: dict[str, Engine]) -> Engine:
    return engines[request.param]


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes | bytearray) else value


# Trailing zeros, negative zero and whole numbers are where engines' decimal texts differ.
@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("'1.5000'", "1.5"),
        ("'-0.0000'", "0"),
        ("'100.0000'", "100"),
        ("'0.0010'", "0.001"),
        ("'-7.25'", "-7.25"),
    ],
)
def test_decimal_text_is_normalised(engine: Engine, literal: str, expected: str) -> None:
    assert _text(engine.value(lambda d, c: d.decimal_text(c), literal, "dec")) == expected


def test_decimal_as_text_follows_what_the_reader_hands_over(engine: Engine) -> None:
    # PostgreSQL and MariaDB hand a DECIMAL over as its text (scale kept), DuckDB as a decimal.
    expected = "1.5" if engine.name == "duckdb" else "1.5000"
    assert _text(engine.value(lambda d, c: d.decimal_as_text(c), "'1.5'", "dec")) == expected


def test_integer_and_flag_texts(engine: Engine) -> None:
    assert _text(engine.value(lambda d, c: d.integer_text(c, "bigint"), "-42", "int")) == "-42"
    # The tree's text of an integer flag that is neither 0 nor 1: '?' and its digits.
    flagged = engine.value(lambda d, c: d.concat("'?'", d.number_operand(c)), "5", "int")
    assert _text(flagged) == "?5"


def test_char_padding_is_removed(engines: dict[str, Engine]) -> None:
    # PostgreSQL pads char(n) and MariaDB keeps a CHAR cast's spaces; DuckDB pads nothing.
    assert engines["postgresql"].value(lambda d, c: d.unpadded_text(c), "'ab'", "char") == "ab"
    assert _text(engines["mysql"].value(lambda d, c: d.unpadded_text(c), "'ab  '", "char")) == "ab"
    assert engines["duckdb"].value(lambda d, c: d.unpadded_text(c), "'ab'", "char") == "ab"


UUID = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"


def test_uuid_texts_are_lower_case_and_trimmed(engine: Engine) -> None:
    assert _text(engine.value(lambda d, c: d.uuid_text(c), f"'{UUID}'", "uuid")) == UUID.lower()
    padded = engine.dialect.text_literal(f" \t{UUID}\n ")
    trimmed = engine.value(lambda d, c: d.uuid_from_text(c, ARROW_WHITE_SPACE), padded, "text")
    assert _text(trimmed) == UUID.lower()


def test_boolean_date_instant_and_hex_texts(engine: Engine) -> None:
    assert _text(engine.value(lambda d, c: d.date_text(c), "'2024-02-29'", "date")) == "2024-02-29"

    def instant(d: Dialect, c: str) -> str:
        text = d.instant_text(c, data_type="timestamp", family="timestamp", infinite=INFINITE, zero="0")
        assert text is not None
        return text

    assert _text(engine.value(instant, "'1970-01-01 00:00:01.5'", "ts")) == "1500000"
    assert _text(engine.value(instant, "'1969-12-31 23:59:59'", "ts")) == "-1000000"
    literal = {"postgresql": "'\\x00ff'", "mysql": "X'00FF'", "duckdb": "'\\x00\\xFF'"}[engine.name]
    assert _text(engine.value(lambda d, c: d.hex_text(c), literal, "bytes")) == "00ff"


def test_infinite_instants_and_dates(engines: dict[str, Engine]) -> None:
    for name in ("postgresql", "duckdb"):
        engine = engines[name]

        def instant(d: Dialect, c: str) -> str:
            return (
                d.instant_text(c, data_type="timestamp", family="timestamp", infinite=INFINITE, zero="0")
                or ""
            )

        assert engine.value(instant, "'infinity'", "ts") == INFINITE
        assert engine.value(instant, "'-infinity'", "ts") == "-" + INFINITE
        assert engine.value(lambda d, c: d.date_text(c), "'infinity'", "date") == "infinity"
    # Arrow writes 44 BC (astronomical year -43) as '-0043'.
    assert (
        engines["postgresql"].value(lambda d, c: d.date_text(c), "'0044-03-15 BC'", "date") == "-0043-03-15"
    )


def test_boolean_text(engines: dict[str, Engine]) -> None:
    for name in ("postgresql", "duckdb"):
        query = engines[name].query
        d = dialect_for(name)
        assert query(
            f"SELECT {d.boolean_text('x')}, {d.boolean_text('y')} FROM (SELECT true AS x, false AS y) v"
        )[0] == ("true", "false")


def test_fields_and_the_md5_hash_agree_everywhere(engine: Engine) -> None:
    d = engine.dialect
    text = d.text_literal("héllo")
    fields = [field_sql(d, text), field_sql(d, "NULL")]
    rows = engine.query(f"SELECT {fields[0]}, {fields[1]}, {hash60_sql(d, fields)}, {hash60_sql(d, [])}")
    field, null, hashed, empty = rows[0]
    assert (_text(field), _text(null)) == ("5:héllo", "N")
    assert int(hashed) == int(hashlib.md5("5:hélloN".encode()).hexdigest()[:15], 16)
    assert int(empty) == int(hashlib.md5(b"").hexdigest()[:15], 16)


def test_bucket_of_a_stride(engine: Engine) -> None:
    assert (
        int(engine.query(f"SELECT {sqlhash.bucket_sql(engine.dialect, '1003', 7, 4)}")[0][0])
        == (1003 // 4) % 7
    )


def test_text_literals_read_back(engine: Engine) -> None:
    text = 'it\'s \\ a\ttab, "ü"'
    assert _text(engine.query(f"SELECT {engine.dialect.text_literal(text)}")[0][0]) == text


def test_tolerance_bins_agree_across_engines(engines: dict[str, Engine]) -> None:
    for literal in ("'123.456'", "'-0.000731'", "'0'", "'1e300'"):
        bins = {
            name: _text(e.value(lambda d, c: bin_text_sql(d, c, 1e-6), literal, "double"))
            for name, e in engines.items()
        }
        assert len(set(bins.values())) == 1, bins
    assert engines["postgresql"].value(lambda d, c: bin_text_sql(d, c, 1e-6), "'0'", "double") == "z"
    for name in ("postgresql", "duckdb"):
        engine = engines[name]
        assert engine.value(lambda d, c: bin_text_sql(d, c, 1e-6), "'NaN'", "double") == "nan"

        def kind(d: Dialect, c: str) -> str:
            return typed_bin_sql(d, c, 1e-6)[0]

        assert [engine.value(kind, v, "double") for v in ("'-inf'", "'inf'", "'NaN'", "'2.5'")] == [
            4,
            3,
            2,
            5,
        ]


def test_native_row_hash_orders_its_values(engines: dict[str, Engine]) -> None:
    for name in ("postgresql", "duckdb"):
        d = dialect_for(name)
        one = d.native_row_hash(["1::bigint", "2::bigint"], [None, None], mask=MASK60)
        two = d.native_row_hash(["2::bigint", "1::bigint"], [None, None], mask=MASK60)
        first, second = engines[name].query(f"SELECT {one}, {two}")[0]
        assert 0 <= int(first) <= MASK60 and 0 <= int(second) <= MASK60 and first != second
    with pytest.raises(ValueError, match="no native row hash"):
        dialect_for("mysql").native_row_hash(["1"], [None], mask=MASK60)


@pytest.mark.parametrize("name", ["postgresql", "duckdb"])
def test_list_json_text(engines: dict[str, Engine], name: str) -> None:
    engine, d = engines[name], dialect_for(name)
    array = {
        "postgresql": "ARRAY['b', 'a', 'b', NULL]::text[]",
        "duckdb": "['b', 'a', 'b', NULL]::VARCHAR[]",
    }[name]
    element = d.plain_text(d.list_element)
    ordered = d.list_json_text(engine.c, element, separator=None, ordered=True)
    unordered = d.list_json_text(engine.c, element, separator=None, ordered=False)
    rows = engine.query(f"SELECT {ordered}, {unordered} FROM (SELECT {array} AS {engine.c}) v")
    assert rows[0] == ('["b","a","b",null]', '["a","b",null]')
    split = d.list_json_text(engine.c, element, separator=";", ordered=True)
    assert engine.query(f"SELECT {split} FROM (SELECT 'x;y' AS {engine.c}) v")[0][0] == '["x","y"]'


def test_mariadb_text_lists_and_sets(engines: dict[str, Engine]) -> None:
    engine, d = engines["mysql"], dialect_for("mysql")
    text_list = d.text_list_json(engine.c, d.plain_text(engine.c), ";")
    assert _text(engine.value(lambda _d, c: text_list, "'a;b\x1f'", "text")) == '["a","b\\u001f"]'
    assert _text(engine.value(lambda _d, c: text_list, "''", "text")) == "[]"
    members = [(1, '"a"'), (4, '"c"'), (2, '"b"')]
    assert d.set_json_text(engine.c, members) is not None
    rows = engine.query(
        f"SELECT {d.set_json_text('s', members)} FROM (SELECT CAST(5 AS UNSIGNED) AS s) v"
    )  # bits 1 and 4: a and c
    assert _text(rows[0][0]) == '["a","c"]'
    assert dialect_for("postgresql").set_json_text("s", members) is None


def test_fingerprint_record_hashes(tmp_path: Path) -> None:
    path = tmp_path / "fp.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE TABLE t (a INTEGER, b VARCHAR); INSERT INTO t VALUES (1, 'x')")
    d = dialect_for("duckdb")
    hashed = d.record_hash("t", lambda: ['"a"', '"b"'])
    with duckdb.connect(str(path)) as db:
        assert isinstance(db.execute(f"SELECT {hashed} FROM t").fetchall()[0][0], int)
    assert dialect_for("files").record_hash("t", lambda: []) is None
    assert dialect_for("sqlite").record_hash("t", lambda: []) is None
    my = dialect_for("mysql").record_hash("t", lambda: ["`a`"])
    assert my == "CRC32(CONCAT_WS('|', COALESCE(CAST(`a` AS CHAR), '~pm-null~')))"


def test_capabilities() -> None:
    # Files are hashed by DuckDB's SQL, and recorded under its name; SQLite hashes on our side.
    assert {engine: sqlhash.dialect_of(engine) for engine in ENGINES} == {
        "postgresql": dialect_for("postgresql"),
        "mysql": dialect_for("mysql"),
        "duckdb": dialect_for("duckdb"),
        "sqlite": None,
        "files": dialect_for("duckdb"),
    }
    assert [e for e in ENGINES if dialect_for(e).hashes_slowly] == ["mysql"]
    assert [e for e in ENGINES if dialect_for(e).has_native_row_hash] == ["postgresql", "duckdb", "files"]
    assert not dialect_for("mysql").renders_canonically("bit(8)")
    assert dialect_for("postgresql").renders_canonically("bit(8)")


def test_hash_aggregation_sets_postgres_planner_only(tmp_path: Path) -> None:
    with ExitStack() as stack:
        pg = stack.enter_context(contextmanager(make_pg_database)())
        with connect(pg.url) as connector:
            before = connector.planner_settings  # type: ignore[attr-defined]
            with connector.hash_aggregation():
                assert ("enable_sort", "off") in connector.planner_settings  # type: ignore[attr-defined]
            assert connector.planner_settings == before  # type: ignore[attr-defined]
    duckdb.connect(str(tmp_path / "x.duckdb")).close()
    with connect(f"duckdb:///{tmp_path / 'x.duckdb'}") as duck, duck.hash_aggregation():
        assert duck.execute("SELECT 1")[0][0] == 1
