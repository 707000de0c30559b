"""The source profile measured on the reconciliation's read of a MariaDB table (ReadProfile) answers
the profile statement value for value as MariaDB does; a column it cannot measure, or a read that
did not complete, leaves the statement to MariaDB; a check then draws the same suite with it as
without it, and MariaDB never scans the table for it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.integrity.profile import SAMPLE_ROWS, held_unique, sampled_columns
from pm_pipeline.core.integrity.read_profile import ReadProfile, tapping
from pm_pipeline.core.integrity.suite import _eligible, generate_and_count
from pm_pipeline.core.reconcile import ReconcileOptions, reconcile_table
from pm_pipeline.core.reconcile.planning import TablePlan, plan_table
from pm_pipeline.core.run import run_check, spec_for_urls
from pm_pipeline_tests.conftest import MyDatabase, make_mariadb_database

pytestmark = pytest.mark.mariadb

# Every kind of column the profile measures: integers (signed, unsigned 64-bit), decimals (negative,
# NULL, wider than 38 digits), utf8mb4 and latin1 text with characters beyond ASCII, a small set, a
# unique code, a repeated value, and dates and times with zero dates (which count as NULL) and NULLs.
COLUMNS = (
    "CREATE TABLE t (id int PRIMARY KEY, big bigint unsigned NOT NULL, amount decimal(12,2), "
    "wide decimal(40,10) NOT NULL, name varchar(40) NOT NULL, latin varchar(20) CHARACTER SET latin1, "
    "tier varchar(8) NOT NULL, code varchar(12) NOT NULL, dup int NOT NULL, "
    "created datetime NOT NULL, stamp datetime, day date, born date NOT NULL)"
)


def _rows(count: int) -> str:
    return (
        "INSERT INTO t SELECT seq, 18446744073709551615 - seq, IF(seq % 7 = 0, NULL, (CAST(seq AS SIGNED) - 500) * 1.25), "
        "seq * 12345678901234.0123456789, CONCAT(REPEAT('ä', seq % 5), 'n', seq, IF(seq % 11 = 0, '😀', '')), "
        "IF(seq % 4 = 0, NULL, CONCAT('é', seq % 9)), ELT(1 + seq % 3, 'gold', 'silver', 'bronze'), "
        "CONCAT('c', seq), LEAST(seq, 40), "
        "IF(seq % 13 = 0, '0000-00-00 00:00:00', '2020-01-01 00:00:00' + INTERVAL seq MINUTE), "
        "IF(seq % 5 = 0, NULL, IF(seq % 17 = 0, '0000-00-00 00:00:00', '2021-06-01 12:00:00' + INTERVAL seq SECOND)), "
        "IF(seq % 6 = 0, NULL, IF(seq % 19 = 0, '0000-00-00', '1999-12-01' + INTERVAL seq DAY)), "
        "'2000-01-01' + INTERVAL (seq % 5000) DAY "
        f"FROM seq_1_to_{count}"
    )


def _plan(connector: Connector) -> TablePlan:
    schema = connector.introspect("t")
    return plan_table(
        mapping=TableMapping(source="t"), source=schema, target=schema, source_zone="UTC", target_zone="UTC"
    )


def _measured(
    database: MyDatabase, *, zones_known: bool = True
) -> tuple[tuple[Any, ...], tuple[Any, ...], int]:
    """(the profile measured on a reconciliation's read, MariaDB's own answer to the statement, the
    number of columns profiled)."""
    with connect(database.url) as source, connect(database.url) as target:
        plan = _plan(source)
        eligible = _eligible(source, target, plan, zones_known)
        profile = _read(source, target, plan, eligible)
        measured = profile.execute(profile.sql)[0]
        assert profile.handed_over
        return measured, source.execute(profile.sql)[0], len(eligible)


def _read(source: Connector, target: Connector, plan: TablePlan, eligible: Any) -> ReadProfile:
    """A ReadProfile that saw a whole reconciliation's read of table t."""
    profile = ReadProfile.for_table(source, "t", eligible, source.introspect("t"))
    assert profile is not None
    options = ReconcileOptions(strategy="arrow", digest_tap=tapping(profile, None))
    reconcile_table(
        source=source, target=target, mapping=TableMapping(source="t"), options=options, plan=plan
    )
    profile.finish()
    return profile


def _same(measured: tuple[Any, ...], answered: tuple[Any, ...]) -> None:
    assert len(measured) == len(answered)
    for index, (ours, theirs) in enumerate(zip(measured, answered, strict=True)):
        if theirs is None or isinstance(theirs, dt.date):
            assert ours == theirs and type(ours) is type(theirs), (index, ours, theirs)
        else:
            assert ours is not None and Decimal(str(ours)) == Decimal(str(theirs)), (index, ours, theirs)
            assert type(ours) is type(theirs) and str(ours) == str(theirs), (index, ours, theirs)


def _zero_dates(database: MyDatabase, *statements: str) -> None:
    database.execute("SET SESSION sql_mode = ''", *statements)


def test_the_measured_profile_is_the_statements_answer() -> None:
    for zones_known in (True, False):  # without zones: no extremes of naive timestamps are asked
        for database in make_mariadb_database():
            _zero_dates(database, COLUMNS, _rows(3000))
            measured, answered, _ = _measured(database, zones_known=zones_known)
            _same(measured, answered)
            assert measured[0] == 3000 and any(isinstance(v, Decimal) for v in measured)


def test_a_table_larger_than_the_sample_measures_the_whole_table_and_samples_the_first_rows(
    mariadb_db: MyDatabase,
) -> None:
    _zero_dates(mariadb_db, COLUMNS, _rows(SAMPLE_ROWS + 2000))
    measured, answered, columns = _measured(mariadb_db)
    whole = 1 + 7 * columns  # the rows, then seven aggregates per column
    _same(measured[:whole], answered[:whole])
    assert measured[whole] == SAMPLE_ROWS  # any rows make a sample: only its size is the server's
    # Unique columns count 50,000 distinct values in any 50,000 rows, and the three tiers (17,000
    # rows each) are all in any of them: there the sample's counts are the server's whatever rows.
    with connect(mariadb_db.url) as source:
        plan = _plan(source)
        eligible = _eligible(source, source, plan, True)
        _, _, sampled = sampled_columns(eligible, held_unique(source.introspect("t")))
    names = [eligible[i].plan.name for i in sampled]
    for name in ("big", "wide", "name", "code", "tier"):
        at = whole + 1 + 3 * names.index(name)
        assert measured[at : at + 3] == answered[at : at + 3], name


def test_dates_and_times_read_as_text_are_measured(mariadb_db: MyDatabase) -> None:
    # A DATETIME key and a DATETIME(3) are read as text, not as a number: zero dates, values and
    # distinct values are measured on the text (without zones, no range of them is asked).
    _zero_dates(
        mariadb_db,
        "CREATE TABLE t (at datetime PRIMARY KEY, moment datetime(3), n int NOT NULL)",
        "INSERT INTO t SELECT '2020-01-01 00:00:00' + INTERVAL seq MINUTE, "
        "IF(seq % 5 = 0, NULL, IF(seq % 7 = 0, '0000-00-00 00:00:00.000', "
        "'2021-06-01 12:00:00.125' + INTERVAL (seq % 50) SECOND)), seq FROM seq_1_to_400",
    )
    measured, answered, _ = _measured(mariadb_db, zones_known=False)
    _same(measured, answered)
    assert 0 < measured[1 + 7 + 1] < 400  # moment's NULL-like values: its NULLs and zero dates


def test_an_empty_table_is_measured(mariadb_db: MyDatabase) -> None:
    mariadb_db.execute(COLUMNS)
    measured, answered, _ = _measured(mariadb_db)
    _same(measured, answered)


@pytest.mark.parametrize(
    "table",
    [
        "CREATE TABLE t (id int PRIMARY KEY, code char(8) NOT NULL)",  # CHAR: its text trimmed
        "CREATE TABLE t (id int PRIMARY KEY, at datetime(6) NOT NULL)",  # read with its fractions
    ],
)
def test_a_column_it_cannot_measure_leaves_the_statement_to_the_database(
    table: str, mariadb_db: MyDatabase
) -> None:
    mariadb_db.execute(table)
    with connect(mariadb_db.url) as source:
        eligible = _eligible(source, source, _plan(source), True)
        assert ReadProfile.for_table(source, "t", eligible) is None


@pytest.mark.parametrize(
    "update",
    [
        # The latest DATETIME has no month: the driver's affair, not a datetime the tap could give.
        "UPDATE t SET stamp = '2099-00-10 00:00:00' WHERE id = 1",
        # A date with a zero month between the column's extremes: how the server counts such dates
        # apart depends on its sql_mode (NO_ZERO_IN_DATE merges them), so the sample is its to count.
        "UPDATE t SET day = '2000-00-00' WHERE id = 7",
        # Days past their month's end, stored under ALLOW_INVALID_DATES: the present values' CASE
        # turns them into zero dates, so the server counts them as one.
        "SET SESSION sql_mode = 'ALLOW_INVALID_DATES'; UPDATE t SET day = IF(id = 7, '2000-02-30', '2000-02-31') "
        "WHERE id IN (7, 8)",
    ],
)
def test_a_value_it_cannot_measure_leaves_the_statement_to_the_database(
    update: str, mariadb_db: MyDatabase
) -> None:
    _zero_dates(mariadb_db, COLUMNS, _rows(200), *update.split("; "))
    with connect(mariadb_db.url) as source, connect(mariadb_db.url) as target:
        plan = _plan(source)
        profile = _read(source, target, plan, _eligible(source, target, plan, True))
        assert profile.execute(profile.sql) == source.execute(profile.sql)
        assert not profile.handed_over


def test_without_a_complete_read_the_statement_runs_on_the_database(mariadb_db: MyDatabase) -> None:
    _zero_dates(mariadb_db, COLUMNS, _rows(100))
    with connect(mariadb_db.url) as source:
        plan = _plan(source)
        profile = ReadProfile.for_table(source, "t", _eligible(source, source, plan, True))
        assert profile is not None
        answered = source.execute(profile.sql)
        # No read at all (the reconciliation chose another strategy): finished, it has no answer.
        profile.finish()
        assert profile.execute(profile.sql) == answered and not profile.handed_over
        # A read that saw some rows and then failed is never finished: the database answers.
        tap = tapping(profile, None)(plan, "source")
        tap.observe(source.query_arrow("SELECT * FROM t LIMIT 10").to_batches()[0])
        assert profile.execute(profile.sql) == answered and not profile.handed_over


def test_the_measured_profile_draws_the_same_suite_and_counts(mariadb_db: MyDatabase) -> None:
    _zero_dates(mariadb_db, COLUMNS, _rows(3000))
    with connect(mariadb_db.url) as source, connect(mariadb_db.url) as target:
        plan = _plan(source)
        schema = source.introspect("t")
        options: dict[str, Any] = {"plan": plan, "value_set_max": 20, "source_schema": schema}
        in_turn = generate_and_count(source, target, count_target=True, target_schema=schema, **options)
        profile = _read(source, target, plan, _eligible(source, target, plan, True))
        measured = generate_and_count(
            source, target, count_target=True, target_schema=schema, early=profile, **options
        )
        assert profile.handed_over
    assert measured == in_turn
    kinds = {(e.column, e.kind) for e in measured[0].expectations}
    assert {
        ("code", "unique"),
        ("tier", "in_set"),
        ("amount", "between"),
        ("name", "length_between"),
    } <= kinds
    assert ("created", "not_null") not in kinds and ("dup", "unique") not in kinds


def test_a_check_measures_the_profile_on_its_read(
    mariadb_db: MyDatabase, started_profiles: list[Any]
) -> None:
    _zero_dates(mariadb_db, COLUMNS, _rows(3000))
    databases = make_mariadb_database()
    target = next(databases)
    try:
        _zero_dates(target, COLUMNS, f"INSERT INTO t SELECT * FROM `{mariadb_db.name}`.t")
        result = run_check(spec_for_urls(source_url=mariadb_db.url, target_url=target.url))
        assert result.passed, [f.message for f in result.findings]
        assert len(started_profiles) == 1 and isinstance(started_profiles[0], ReadProfile)
        assert started_profiles[0].handed_over
    finally:
        databases.close()


def test_the_sample_is_let_go_once_counted(mariadb_db: MyDatabase) -> None:
    # 90,000 rows of 1,000-character codes pass by (90 MB): once the first 50,000 are counted, the
    # tap keeps none of them, whatever the rest of the read.
    mariadb_db.execute("CREATE TABLE t (id int PRIMARY KEY, code varchar(1000) NOT NULL)")
    with connect(mariadb_db.url) as source:
        plan = _plan(source)
        profile = ReadProfile.for_table(source, "t", _eligible(source, source, plan, True))
        assert profile is not None
        tap = tapping(profile, None)(plan, "source")
        before = pa.total_allocated_bytes()
        for start in (0, 30_000, 60_000):
            rows = range(start, start + 30_000)
            tap.observe(
                pa.record_batch({"id": pa.array(rows), "code": pa.array([f"{i:01000d}" for i in rows])})
            )
        assert pa.total_allocated_bytes() - before < 5_000_000
        profile.finish()
        assert profile.execute(profile.sql)[0][:2] == (90_000, 90_000)


def test_a_session_that_merges_dates_with_zero_parts_is_not_measured(mariadb_db: MyDatabase) -> None:
    _zero_dates(mariadb_db, COLUMNS, _rows(10))
    with connect(mariadb_db.url) as source:
        eligible = _eligible(source, source, _plan(source), True)
        assert ReadProfile.for_table(source, "t", eligible) is not None
        source.execute("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_ZERO_IN_DATE')")
        assert ReadProfile.for_table(source, "t", eligible) is None
