"""Zero dates ('0000-00-00') equal NULL by default in every strategy; `zero_date: strict` opts out; a zero date turned into a real date is a difference."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.config.spec import ColumnRule, TableMapping
from pm_pipeline.core.connectors import TypeFamily
from pm_pipeline.core.connectors.schema import Column
from pm_pipeline.core.findings import Category, TableReconciliation
from pm_pipeline.core.reconcile import sqlhash

from .engines import MySide, Pair, PgSide, SqliteSide

STRATEGIES = ("arrow", "pushdown", "bucket")
F = TypeFamily
MARIADB = (
    "SET SESSION sql_mode = ''",
    "CREATE TABLE t (id int PRIMARY KEY, shipped datetime, due date, stamped timestamp NULL, note varchar(10))",
    "INSERT INTO t VALUES (1, '0000-00-00 00:00:00', '0000-00-00', '0000-00-00 00:00:00', 'a'),"
    " (2, '2024-05-01 10:00:00', '2024-05-02', '2024-05-01 08:00:00', 'b'), (3, NULL, NULL, NULL, NULL)",
)
POSTGRES = (
    # What loaders write for a zero date: NULL.
    "CREATE TABLE t (id int PRIMARY KEY, shipped timestamp(0), due date, stamped timestamptz(0), note varchar(10))",
    "INSERT INTO t VALUES (1, NULL, NULL, NULL, 'a'),"
    " (2, '2024-05-01 10:00:00', '2024-05-02', '2024-05-01 08:00:00+00', 'b'), (3, NULL, NULL, NULL, NULL)",
    # A migration that made the zero dates real dates, and lost a real date to NULL.
    "CREATE TABLE invented (id int PRIMARY KEY, shipped timestamp(0), due date, stamped timestamptz(0),"
    " note varchar(10))",
    "INSERT INTO invented VALUES (1, '1970-01-01 00:00:00', '1970-01-01', NULL, 'a'),"
    " (2, NULL, '2024-05-02', '2024-05-01 08:00:00+00', 'b'), (3, NULL, NULL, NULL, NULL)",
)


def _answer(result: TableReconciliation) -> tuple[Any, ...]:
    findings = sorted((str(f.category), f.column or "", str(f.key)) for f in result.findings)
    under_rule = {c.column: dict(c.equal_under_rule) for c in result.columns if c.equal_under_rule}
    return result.matched_rows, result.changed_rows, result.rows_equal_under_rule, under_rule, findings


@pytest.fixture
def my_pg(mariadb_db: Any, pg_db: Any) -> Pair:
    mariadb_db.execute(*MARIADB)
    pg_db.execute(*POSTGRES)
    return Pair("mariadb->postgres", MySide(mariadb_db.url), PgSide(pg_db.url))


@pytest.mark.mariadb
@pytest.mark.postgres
def test_zero_dates_equal_null_by_default_in_every_strategy(my_pg: Pair) -> None:
    answers = {}
    for strategy in STRATEGIES:
        result = my_pg.reconcile(TableMapping(source="t", strategy=strategy))
        assert result.findings == (), (strategy, result.findings)
        # The rule keeps the columns in SQL hashes: bucket checksums stay usable.
        assert result.strategy == strategy, result.strategy_note
        answers[strategy] = _answer(result)
    zero = {"zero_date=null": 1}
    assert answers["arrow"] == (3, 0, 1, {"shipped": zero, "due": zero, "stamped": zero}, [])
    assert answers["pushdown"] == answers["arrow"] and answers["bucket"] == answers["arrow"]


@pytest.mark.mariadb
@pytest.mark.postgres
def test_zero_dates_equal_null_in_a_table_without_key(mariadb_db: Any, pg_db: Any) -> None:
    # Keyless tables are compared as multisets of row hashes: no second, cell-by-cell look.
    mariadb_db.execute(*MARIADB, "ALTER TABLE t DROP PRIMARY KEY")
    pg_db.execute(*POSTGRES, "ALTER TABLE t DROP CONSTRAINT t_pkey")
    pair = Pair("mariadb->postgres", MySide(mariadb_db.url), PgSide(pg_db.url))
    for strategy in ("arrow", "pushdown"):
        result = pair.reconcile(TableMapping(source="t", strategy=strategy))
        assert result.keyless and result.findings == (), (strategy, result.findings)
        assert (result.matched_rows, result.missing_rows, result.extra_rows) == (3, 0, 0)


@pytest.mark.mariadb
@pytest.mark.postgres
def test_zero_dates_are_differences_under_strict_in_every_strategy(my_pg: Pair) -> None:
    strict = ColumnRule(zero_date="strict")
    mapping = {"shipped": strict, "due": strict, "stamped": strict}
    answers = {}
    for strategy in STRATEGIES:
        result = my_pg.reconcile(TableMapping(source="t", strategy=strategy, columns=mapping))
        answers[strategy] = _answer(result)
        # Shown as written, never as an instant.
        assert {f.source_canonical for f in result.findings} == {
            "0000-00-00",
            "0000-00-00 00:00:00 (zero date)",
        }
    expected = [
        (str(Category.VALUE_MISMATCH), column, "{'id': 1}") for column in ("due", "shipped", "stamped")
    ]
    assert answers["arrow"] == (3, 1, 0, {}, expected)
    assert answers["pushdown"] == answers["arrow"] and answers["bucket"] == answers["arrow"]


@pytest.mark.mariadb
@pytest.mark.postgres
def test_a_zero_date_made_a_real_date_is_a_difference(my_pg: Pair) -> None:
    answers = {}
    for strategy in STRATEGIES:
        result = my_pg.reconcile(TableMapping(source="t", target="invented", strategy=strategy))
        answers[strategy] = _answer(result)
    # Row 1: zero dates became 1970-01-01 (stamped stayed NULL: equal under the rule); row 2: a
    # real datetime lost to NULL.
    expected = [
        (str(Category.VALUE_MISMATCH), "due", "{'id': 1}"),
        (str(Category.VALUE_MISMATCH), "shipped", "{'id': 1}"),
        (str(Category.VALUE_MISMATCH), "shipped", "{'id': 2}"),
    ]
    assert answers["arrow"] == (3, 2, 0, {"stamped": {"zero_date=null": 1}}, expected)
    assert answers["pushdown"] == answers["arrow"] and answers["bucket"] == answers["arrow"]


@pytest.mark.postgres
def test_sqlite_text_zero_dates_equal_null(tmp_path: Path, pg_db: Any) -> None:
    # A SQLite file filled from a MariaDB dump keeps '0000-00-00 00:00:00' as text.
    with sqlite3.connect(tmp_path / "legacy.db") as con:
        con.executescript(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, shipped DATETIME, due DATE);"
            "INSERT INTO t VALUES (1, '0000-00-00 00:00:00', '0000-00-00'), (2, '2024-05-01 10:00:00', '2024-05-02');"
        )
    pg_db.execute(
        "CREATE TABLE t (id int PRIMARY KEY, shipped timestamp, due date)",
        "INSERT INTO t VALUES (1, NULL, NULL), (2, '2024-05-01 10:00:00', '2024-05-02')",
    )
    pair = Pair("sqlite->postgres", SqliteSide(tmp_path / "legacy.db"), PgSide(pg_db.url))
    for strategy in STRATEGIES:
        result = pair.reconcile(TableMapping(source="t", strategy=strategy))
        assert result.findings == (), (strategy, result.findings)
        assert result.rows_equal_under_rule == 1


def _plan(source: Column, target: Column, rule: ColumnRule | None = None) -> ColumnPlan:
    return ColumnPlan(source, target, source.family, rule or ColumnRule(), "UTC", "UTC")


def test_the_default_adds_no_rule_where_no_zero_date_can_be() -> None:
    # The default must not turn every date column of every engine into a "declared rule" column
    # (no pushdown, no bucket checksums, a rule shown in every report).
    pg_date = Column("d", "date", F.DATE)
    pg_ts = Column("t", "timestamp without time zone", F.TIMESTAMP)
    my_ts = Column("t", "datetime", F.TIMESTAMP, zero_dates=True)
    for plan in (_plan(pg_date, pg_date), _plan(pg_ts, pg_ts)):
        assert (plan.declared_rules, plan.has_value_rules, plan.rule_label) == ((), False, "exact")
        assert sqlhash.pushable(plan)
    # Where a zero date can be, the rule is shown, yet the column is still hashed in SQL (a row
    # holding a zero date hashes apart and is compared cell by cell, where the rule applies).
    mariadb = _plan(my_ts, pg_ts)
    assert (mariadb.declared_rules, mariadb.compares_under_rules) == (("zero_date=null",), True)
    assert not mariadb.has_value_rules and sqlhash.pushable(mariadb)
    strict = _plan(my_ts, pg_ts, ColumnRule(zero_date="strict"))
    assert (strict.declared_rules, strict.compares_under_rules, sqlhash.pushable(strict)) == ((), False, True)
    # Declared on a pair that cannot hold them, the rule is kept as declared.
    assert _plan(pg_date, pg_date, ColumnRule(zero_date="null")).declared_rules == ("zero_date=null",)
    # Decimal pairs keep their common-scale hashing next to dates.
    decimal = Column("a", "numeric(12,2)", F.DECIMAL, precision=12, scale=2)
    assert _plan(decimal, decimal).common_scale == 2
