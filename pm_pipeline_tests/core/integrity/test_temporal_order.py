"""Temporal checks that must not depend on row order: [min, max] read in one row, zero dates left out of ranges, samples ordered."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import Category
from pm_pipeline.core.integrity import temporal
from pm_pipeline.core.reconcile.planning import plan_table

ROWS = [(k, dt.datetime(2019, 1, 14) + dt.timedelta(days=97 * ((k * 7) % 20))) for k in range(1, 21)]
LOW, HIGH = min(at for _, at in ROWS), max(at for _, at in ROWS)
VALUES = ", ".join(f"({k}, '{at:%Y-%m-%d %H:%M:%S}')" for k, at in ROWS)


def _range(url: str, table: str = "t") -> list[Any]:
    with connect(url) as conn:
        column = conn.introspect(table).column("at")
        return temporal._extremes(conn, table, column, skip_zero_dates=False).to_pylist()


def _as_datetimes(values: list[Any]) -> list[dt.datetime]:
    # MariaDB reads datetimes as text, PostgreSQL as timestamps, SQLite as the text it stores.
    return [v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(str(v)) for v in values]


@pytest.mark.postgres
def test_postgres_extremes_are_min_then_max(pg_db: Any) -> None:
    # PostgreSQL returned MIN and MAX of a UNION ALL in either order: identical data was reported
    # as "spans 2024-12-19 .. 2019-01-14 in the target but 2019-01-14 .. 2024-12-19 in the source".
    pg_db.execute("CREATE TABLE t (id int PRIMARY KEY, at timestamp)", f"INSERT INTO t VALUES {VALUES}")
    assert _as_datetimes(_range(pg_db.url)) == [LOW, HIGH]


@pytest.mark.mariadb
def test_mariadb_extremes_are_min_then_max(mariadb_db: Any) -> None:
    mariadb_db.execute("CREATE TABLE t (id int PRIMARY KEY, at datetime)", f"INSERT INTO t VALUES {VALUES}")
    assert _as_datetimes(_range(mariadb_db.url)) == [LOW, HIGH]


def test_sqlite_extremes_are_min_then_max(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "t.db") as con:
        con.executescript(
            f"CREATE TABLE t (id INTEGER PRIMARY KEY, at DATETIME); INSERT INTO t VALUES {VALUES};"
        )
    assert _as_datetimes(_range(f"sqlite:///{tmp_path / 't.db'}")) == [LOW, HIGH]


@pytest.mark.mariadb
@pytest.mark.postgres
def test_zero_dates_bound_no_range_and_a_real_range_change_is_shown_min_first(
    mariadb_db: Any, pg_db: Any
) -> None:
    # A zero date (NULL in the target, equal under zero_date) made the source range start at
    # '0000-00-00': a false "range differs" on every MariaDB table holding one.
    mariadb_db.execute(
        "SET SESSION sql_mode = ''",
        "CREATE TABLE t (id int PRIMARY KEY, at datetime)",
        f"INSERT INTO t VALUES {VALUES}, (21, '0000-00-00 00:00:00')",
    )
    pg_db.execute(
        "CREATE TABLE t (id int PRIMARY KEY, at timestamp)",
        f"INSERT INTO t VALUES {VALUES}, (21, NULL)",
        "CREATE TABLE moved (id int PRIMARY KEY, at timestamp)",
        f"INSERT INTO moved VALUES {VALUES}, (21, NULL)",
        "UPDATE moved SET at = at + interval '90 minutes' WHERE at = (SELECT max(at) FROM moved)",
    )
    with connect(mariadb_db.url) as source, connect(pg_db.url) as target:
        findings = {}
        for table in ("t", "moved"):
            plan = plan_table(
                mapping=TableMapping(source="t", target=table),
                source=source.introspect("t"),
                target=target.introspect(table),
            )
            (column,) = plan.values
            findings[table] = temporal.range_and_shift(
                source, target, plan=plan, column=column, sample_rows=50
            )
    assert findings["t"] == []
    (moved,) = findings["moved"]
    assert moved.category is Category.TEMPORAL_VIOLATION
    assert moved.message == (
        f"at spans {LOW} .. {HIGH + dt.timedelta(minutes=90)} in the target but {LOW} .. {HIGH} in the source"
    )


@pytest.mark.postgres
def test_samples_are_the_first_rows_by_key(pg_db: Any) -> None:
    # A LIMIT without ORDER BY showed different rows from run to run.
    pg_db.execute(
        "CREATE TABLE t (id int PRIMARY KEY, created timestamp, updated timestamp)",
        "INSERT INTO t SELECT k, '2024-01-02', CASE WHEN k % 3 = 0 THEN timestamp '2024-01-01' ELSE timestamp '2024-01-03' END"
        " FROM generate_series(40, 1, -1) k",
        "CLUSTER t USING t_pkey",
        "UPDATE t SET updated = updated WHERE id < 20",  # later versions of low keys at the end of the heap
    )
    with connect(pg_db.url) as target:
        count, findings = temporal.order_violations(
            target, table="t", created="created", updated="updated", key_columns=["id"], sample_limit=3
        )
        future, late = temporal.future_values(
            target,
            table="t",
            column=target.introspect("t").column("updated"),
            latest=dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
            key_columns=["id"],
            sample_limit=3,
        )
    assert count == 13 and [f.key for f in findings] == [{"id": 3}, {"id": 6}, {"id": 9}]
    assert future == 27 and [f.key for f in late] == [{"id": 1}, {"id": 2}, {"id": 4}]
