"""The integrity section of each SQL dialect, run on its own engine: lengths, text casts, prefixes,
byte-wise comparison, and the capabilities the integrity checks branch on."""

from __future__ import annotations

import datetime as dt
import decimal
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pm_pipeline.core.config.spec import SourceEndpoint
from pm_pipeline.core.connectors import Connector, connect
from pm_pipeline.core.dialects import Dialect, dialect_for
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.integrity.expectations import runs_gx, sqlalchemy_url
from pm_pipeline_tests.conftest import make_mariadb_database, make_pg_database
from pm_pipeline_tests.support.embedded import in_process


@dataclass
class Engine:
    """An empty database of one engine: statements to fill it natively, a connector to read it."""

    name: str
    url: str
    native: Any = field(repr=False)  # runs setup statements

    @property
    def dialect(self) -> Dialect:
        return dialect_for(self.name)

    def prepare(self, *statements: str) -> None:
        self.native(*statements)

    def connect(self) -> Connector:
        return connect(self.url)


def _engine(name: str, tmp_path: Path, stack: ExitStack) -> Engine:
    if name == "postgresql":
        pg = stack.enter_context(contextmanager(make_pg_database)())
        return Engine(name, pg.url, lambda *statements: pg.execute(*statements))
    if name == "mysql":
        my = stack.enter_context(contextmanager(make_mariadb_database)())
        return Engine(name, my.url, lambda *statements: my.execute(*statements))
    module, path = (duckdb, tmp_path / "d.duckdb") if name == "duckdb" else (sqlite3, tmp_path / "s.db")
    engine = Engine(name, f"{name}:///{path}", in_process(module, path))
    engine.prepare()  # the file exists: connectors never create a database
    return engine


def _fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with ExitStack() as stack:
        yield _engine(str(request.param), tmp_path, stack)


@pytest.fixture(params=["postgresql", "mysql", "duckdb", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from _fixture(request, tmp_path)


@pytest.fixture(params=["postgresql", "duckdb", "sqlite"])
def schema_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    # MariaDB is left out: CREATE SCHEMA makes a database there, which is what has_schemas=False says
    yield from _fixture(request, tmp_path)


def _one(engine: Engine, sql: str, params: tuple[Any, ...] = ()) -> Any:
    with engine.connect() as conn:
        return conn.execute(sql, params)[0][0]


def test_char_length_counts_characters_not_bytes(engine: Engine) -> None:
    # MariaDB's LENGTH counts bytes: 'héllo' would measure 6 and a length range would fail
    engine.prepare("CREATE TABLE t (s VARCHAR(20))", "INSERT INTO t VALUES ('héllo')")
    assert _one(engine, f"SELECT {engine.dialect.char_length('s')} FROM t") == 5


def test_text_prefix_of_a_text_cast(engine: Engine) -> None:
    engine.prepare("CREATE TABLE t (i BIGINT)", "INSERT INTO t VALUES (12345678901234)")
    d = engine.dialect
    assert _one(engine, f"SELECT {d.text_prefix(d.text_cast('i'), 10)} FROM t") == "1234567890"


def _case_insensitive_table(engine: Engine) -> None:
    if engine.name == "postgresql":
        engine.prepare(
            "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
            'CREATE TABLE t (s VARCHAR(10) COLLATE "ci")',
        )
    elif engine.name == "mysql":
        engine.prepare("CREATE TABLE t (s VARCHAR(10)) COLLATE utf8mb4_general_ci")
    else:
        engine.prepare("CREATE TABLE t (s VARCHAR(10) COLLATE NOCASE)")
    engine.prepare("INSERT INTO t VALUES ('a')")


def test_bytewise_tells_case_apart_under_a_case_insensitive_collation(engine: Engine) -> None:
    # a MariaDB _ci column migrated to a nondeterministic ICU or NOCASE column: 'a' = 'A' there
    _case_insensitive_table(engine)
    d, p = engine.dialect, engine.dialect.placeholder
    with engine.connect() as conn:
        assert conn.execute(f"SELECT COUNT(*) FROM t WHERE s = {p}", ("A",))[0][0] == 1
        assert conn.execute(f"SELECT COUNT(*) FROM t WHERE {d.bytewise('s')} = {p}", ("A",))[0][0] == 0
        assert conn.execute(f"SELECT COUNT(*) FROM t WHERE {d.bytewise('s')} IN ({p})", ("a",))[0][0] == 1


def test_zero_dates_are_held_where_the_dialect_says_so(engine: Engine) -> None:
    d = engine.dialect
    if d.dynamic_typing:
        pytest.skip("a dynamically typed column holds any text, zero dates included")
    engine.prepare("CREATE TABLE t (d DATE)")
    # a server whose sql_mode holds NO_ZERO_DATE refuses them; the migrated data was written without
    lenient = ["SET SESSION sql_mode = ''"] if engine.name == "mysql" else []
    try:
        engine.prepare(*lenient, "INSERT INTO t VALUES ('0000-00-00')")
    except Exception:
        assert not d.has_zero_dates
        return
    zero = f"SELECT COUNT(*) FROM t WHERE {d.text_prefix(d.text_cast('d'), 10)} = '0000-00-00'"
    assert d.has_zero_dates and _one(engine, zero) == 1


def test_isfinite_runs_where_dates_may_be_infinite(engine: Engine) -> None:
    d = engine.dialect
    if d.supports_infinite_timestamps:
        engine.prepare("CREATE TABLE t (d DATE)", "INSERT INTO t VALUES ('infinity'), ('2024-05-06')")
        assert _one(engine, "SELECT COUNT(*) FROM t WHERE NOT isfinite(d)") == 1
    else:
        engine.prepare("CREATE TABLE t (d DATE)")
        with pytest.raises(Exception):  # noqa: B017 - each driver raises its own class
            _one(engine, "SELECT COUNT(*) FROM t WHERE NOT isfinite(d)")


def test_unreadable_infinity_fails_the_read_of_the_value(engine: Engine) -> None:
    d = engine.dialect
    if not d.supports_infinite_timestamps:
        assert not d.unreadable_infinity
        return
    engine.prepare("CREATE TABLE t (d DATE)", "INSERT INTO t VALUES ('infinity')")
    if d.unreadable_infinity:
        with pytest.raises(Exception):  # noqa: B017 - the driver's own error
            _one(engine, "SELECT MAX(d) FROM t")
    else:
        assert _one(engine, "SELECT MAX(d) FROM t") is not None


def test_decimal_parameters_bind_where_the_dialect_says_so(engine: Engine) -> None:
    d = engine.dialect
    sql = f"SELECT CAST({d.placeholder} AS DECIMAL(10,2))"
    if d.binds_decimals:
        assert decimal.Decimal(str(_one(engine, sql, (decimal.Decimal("1.25"),)))) == decimal.Decimal("1.25")
    else:
        with pytest.raises(Exception):  # noqa: B017 - sqlite3's own error
            _one(engine, sql, (decimal.Decimal("1.25"),))


def test_exact_aggregates_read_decimals_back_as_decimals(engine: Engine) -> None:
    engine.prepare("CREATE TABLE t (x DECIMAL(10,2))", "INSERT INTO t VALUES (1.10)")
    assert (
        isinstance(_one(engine, "SELECT MAX(x) FROM t"), decimal.Decimal) is engine.dialect.exact_aggregates
    )


def test_dynamic_typing_keeps_text_in_an_integer_column(engine: Engine) -> None:
    engine.prepare("CREATE TABLE t (i INTEGER)")
    try:
        engine.prepare("INSERT INTO t VALUES ('abc')")
    except Exception:
        assert not engine.dialect.dynamic_typing
        return
    assert (_one(engine, "SELECT i FROM t") == "abc") is engine.dialect.dynamic_typing


@pytest.mark.parametrize("name", ["postgresql", "duckdb"])
def test_instants_bind_as_the_dialect_says(name: str, tmp_path: Path) -> None:
    # the future-values check binds the cut-over instant aware or as naive UTC: either must
    # compare with a TIMESTAMPTZ column as the same instant
    with ExitStack() as stack:
        engine = _engine(name, tmp_path, stack)
        engine.prepare(
            "CREATE TABLE t (happened TIMESTAMPTZ)", "INSERT INTO t VALUES ('2024-01-01 12:00:00+00')"
        )
        d = engine.dialect
        paris = dt.timezone(dt.timedelta(hours=2))
        for latest, later in (
            (dt.datetime(2024, 1, 1, 13, 30, tzinfo=paris), 1),
            (dt.datetime(2024, 1, 1, 14, 30, tzinfo=paris), 0),
        ):
            bound = latest if d.binds_aware_timestamps else latest.astimezone(dt.UTC).replace(tzinfo=None)
            assert _one(engine, f"SELECT COUNT(*) FROM t WHERE happened > {d.placeholder}", (bound,)) == later


def test_schemas_hold_tables_where_the_dialect_has_them(schema_engine: Engine) -> None:
    engine = schema_engine
    d = engine.dialect
    try:
        engine.prepare("CREATE SCHEMA s", "CREATE TABLE s.t (i INTEGER)")
    except Exception:
        assert not d.has_schemas
        return
    assert d.has_schemas and _one(engine, f"SELECT COUNT(*) FROM {d.qualified('t', 's')}") == 0


def test_great_expectations_connects_through_the_sqlalchemy_url(engine: Engine) -> None:
    import sqlalchemy

    engine.prepare("CREATE TABLE t (i INTEGER)", "INSERT INTO t VALUES (7)")
    with engine.connect() as conn:
        if engine.dialect.sqlalchemy_url_template is None:
            assert not runs_gx(conn)
            with pytest.raises(BadInputError, match="cannot run"):
                sqlalchemy_url(conn)
            return
        assert runs_gx(conn)
        made = sqlalchemy.create_engine(sqlalchemy_url(conn))
        try:
            with made.connect() as session:
                assert session.execute(sqlalchemy.text("SELECT i FROM t")).scalar() == 7
        finally:
            made.dispose()


def test_every_gx_data_source_exists() -> None:
    import great_expectations as gx

    sources = gx.get_context(mode="ephemeral").data_sources
    for name in ("postgresql", "mysql", "sqlite"):
        assert callable(getattr(sources, f"add_{dialect_for(name).gx_data_source}"))


@pytest.mark.parametrize(
    ("url", "replica"),
    [
        ("postgresql://db/shop", "postgres://replica/shop"),
        ("mysql://db/shop", "mariadb+pymysql://replica/shop"),
    ],
)
def test_a_replica_may_spell_its_engine_another_way(url: str, replica: str) -> None:
    assert SourceEndpoint(url=url, replica_url=replica).replica_url == replica


def test_a_replica_of_another_engine_is_refused_by_engine_name() -> None:
    with pytest.raises(ValueError, match="replica_url is a mysql URL but url is postgresql"):
        SourceEndpoint(url="postgres://db/shop", replica_url="mariadb://replica/shop")


def test_a_replica_in_another_file_format_is_refused() -> None:
    # Two formats of files are two sources, not one engine spelled two ways.
    with pytest.raises(ValueError, match="replica_url is a parquet URL but url is csv"):
        SourceEndpoint(url="csv:///data/shop", replica_url="parquet:///data/shop")
