"""MariaDB -> PostgreSQL conversions that are benign when declared: zero dates, tinyint(1) booleans, naive DATETIME in a declared zone."""

from __future__ import annotations

from typing import Any

import pytest

from pm_pipeline.core.config.spec import ColumnRule, TableMapping
from pm_pipeline.core.findings import Category

from .engines import MySide, Pair, PgSide

pytestmark = [pytest.mark.mariadb, pytest.mark.postgres]


@pytest.fixture
def my_pg(mariadb_db: Any, pg_db: Any) -> tuple[Any, Any, Pair]:
    return mariadb_db, pg_db, Pair("mariadb->postgres", MySide(mariadb_db.url), PgSide(pg_db.url))


def test_zero_dates_declared_as_null(my_pg: tuple[Any, Any, Pair]) -> None:
    my, pg, pair = my_pg
    my.execute(
        "SET SESSION sql_mode = ''",
        "CREATE TABLE t (id int PRIMARY KEY, shipped datetime, due date)",
        "INSERT INTO t VALUES (1, '0000-00-00 00:00:00', '0000-00-00'), (2, '2024-05-01 10:00:00', '2024-05-02'),"
        " (3, NULL, NULL)",
    )
    pg.execute(
        "CREATE TABLE t (id int PRIMARY KEY, shipped timestamp, due date)",
        "INSERT INTO t VALUES (1, NULL, NULL), (2, '2024-05-01 10:00:00', '2024-05-02'), (3, NULL, NULL)",
        # The migration wrongly turned a real date into NULL as well.
        "CREATE TABLE lost (id int PRIMARY KEY, shipped timestamp, due date)",
        "INSERT INTO lost VALUES (1, NULL, NULL), (2, NULL, '2024-05-02'), (3, NULL, NULL)",
    )
    rule = ColumnRule(zero_date="null")
    declared = pair.reconcile(TableMapping(source="t", columns={"shipped": rule, "due": rule}))
    assert declared.findings == ()
    assert {c.column: dict(c.equal_under_rule) for c in declared.columns} == {
        "shipped": {"zero_date=null": 1},
        "due": {"zero_date=null": 1},
    }
    # Declared strict, the zero date is a difference, shown as written (equal to NULL is the default).
    strict = ColumnRule(zero_date="strict")
    undeclared = pair.reconcile(TableMapping(source="t", columns={"shipped": strict, "due": strict}))
    assert sorted((f.column, f.key["id"]) for f in undeclared.findings if f.key) == [
        ("due", 1),
        ("shipped", 1),
    ]
    # The declaration does not hide a real date lost to NULL.
    lost = pair.reconcile(TableMapping(source="t", target="lost", columns={"shipped": rule, "due": rule}))
    assert [(f.category, f.column, f.key) for f in lost.findings] == [
        (Category.VALUE_MISMATCH, "shipped", {"id": 2})
    ]


def test_tinyint_and_bit_flags_become_booleans(my_pg: tuple[Any, Any, Pair]) -> None:
    my, pg, pair = my_pg
    my.execute(
        "CREATE TABLE t (id int PRIMARY KEY, active tinyint(1), deleted bit(1))",
        "INSERT INTO t VALUES (1, 1, b'0'), (2, 0, b'1'), (3, NULL, NULL)",
    )
    pg.execute(
        "CREATE TABLE t (id int PRIMARY KEY, active boolean, deleted boolean)",
        "INSERT INTO t VALUES (1, true, false), (2, false, true), (3, NULL, NULL)",
    )
    result = pair.reconcile(TableMapping(source="t"))
    assert result.findings == ()
    assert all(c.exact == 3 for c in result.columns)


def test_declared_zone_applies_to_datetime_not_to_timestamp(my_pg: tuple[Any, Any, Pair]) -> None:
    # DATETIME holds Paris wall-clock time; TIMESTAMP is an instant MariaDB stores in UTC, whatever
    # zone the legacy application wrote DATETIMEs in.
    my, pg, pair = my_pg
    my.execute(
        "SET time_zone = '+00:00'",
        "CREATE TABLE t (id int PRIMARY KEY, local_time datetime, stamped timestamp NULL)",
        "INSERT INTO t VALUES (1, '2024-01-15 09:30:00', '2024-01-15 08:30:00'),"
        " (2, '2024-07-01 12:00:00', '2024-07-01 10:00:00'), (3, '2024-03-31 03:30:00', NULL)",
    )
    pg.execute(
        "CREATE TABLE t (id int PRIMARY KEY, local_time timestamptz, stamped timestamptz)",
        "INSERT INTO t VALUES (1, '2024-01-15 08:30:00+00', '2024-01-15 08:30:00+00'),"
        " (2, '2024-07-01 10:00:00+00', '2024-07-01 10:00:00+00'), (3, '2024-03-31 01:30:00+00', NULL)",
    )
    result = pair.reconcile(TableMapping(source="t"), source_zone="Europe/Paris")
    assert result.findings == (), [
        (f.column, f.source_canonical, f.target_canonical) for f in result.findings
    ]
    # The same data read as UTC: every local_time is off by the Paris offset, stamped still matches.
    as_utc = pair.reconcile(TableMapping(source="t"))
    assert sorted((f.column, f.key["id"]) for f in as_utc.findings if f.key) == [
        ("local_time", 1),
        ("local_time", 2),
        ("local_time", 3),
    ]
