"""False alarms and detections of the performance monitor, measured on the local servers.

    python -m pm_pipeline_bench.perf_alarms [--runs 20] [--rows 60000] [--pairs postgresql,mariadb]

Builds a source with two indexes and a unique constraint, a correct copy and a copy that lost all
three (PostgreSQL, and MariaDB as the source of a PostgreSQL target), runs the same five-query
workload ``--runs`` times against each target, and prints per pair: the runs in which the correct
target raised any error or warning (false alarms), the runs in which the broken target had exactly
its three queries reported with proven advice (detections), and the seconds per run. The
databases are dropped afterwards.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
import pymysql

from pm_pipeline.core.config.performance import PerformanceSettings
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import Category, Severity
from pm_pipeline.core.perf import PerfResult, run_workload

LOST = {"login_by_email", "by_name", "orders_of"}
WORKLOAD = {
    "allow_hypopg": True,
    "workload": [
        {
            "name": "login_by_email",
            "sql": "SELECT id, name FROM customers WHERE email = :email",
            "sample": {"sql": "SELECT email FROM customers WHERE id % 7919 = 0 ORDER BY id", "size": 4},
        },
        {
            "name": "by_name",
            "sql": "SELECT id FROM customers WHERE name = :name",
            "params": {"name": "name 4242"},
        },
        {
            "name": "orders_of",
            "sql": "SELECT id, total FROM orders WHERE customer_id = :customer ORDER BY id",
            "params": {"customer": 4242},
        },
        {"name": "by_id", "sql": "SELECT * FROM customers WHERE id = :id", "params": {"id": 77}},
        {"name": "cities", "sql": "SELECT city, count(*) AS n FROM customers GROUP BY city"},
    ],
}
INDEXES = (
    "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email)",
    "CREATE INDEX customers_name_idx ON customers (name)",
    "CREATE INDEX orders_customer_idx ON orders (customer_id)",
)


def _pg_tables(rows: int) -> tuple[str, ...]:
    return (
        "CREATE TABLE customers (id integer PRIMARY KEY, email varchar(100) NOT NULL, "
        "name varchar(100) NOT NULL, city varchar(50) NOT NULL)",
        "INSERT INTO customers SELECT i, 'user' || i || '@example.com', 'name ' || i, 'city ' || (i % 40) "
        f"FROM generate_series(1, {rows}) i",
        "CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer NOT NULL, total numeric(10,2) NOT NULL)",
        f"INSERT INTO orders SELECT i, 1 + (i * 7919) % {rows}, (i % 1000) / 10.0 FROM generate_series(1, {rows}) i",
    )


def _mariadb_tables(rows: int) -> tuple[str, ...]:
    return (
        "CREATE TABLE customers (id int PRIMARY KEY, email varchar(100) NOT NULL, name varchar(100) NOT NULL, "
        "city varchar(50) NOT NULL)",
        "INSERT INTO customers SELECT seq, concat('user', seq, '@example.com'), concat('name ', seq), "
        f"concat('city ', seq % 40) FROM seq_1_to_{rows}",
        "CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, total decimal(10,2) NOT NULL)",
        f"INSERT INTO orders SELECT seq, 1 + (seq * 7919) % {rows}, (seq % 1000) / 10.0 FROM seq_1_to_{rows}",
    )


@contextmanager
def _postgres(statements: Sequence[str]) -> Iterator[str]:
    name = f"pmbench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname=name, autocommit=True) as conn:
            for statement in (*statements, "ANALYZE"):
                conn.execute(statement)
        yield f"postgresql://postgres@127.0.0.1/{name}"
    finally:
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _mariadb(statements: Sequence[str]) -> Iterator[str]:
    name = f"pmbench_{uuid.uuid4().hex[:10]}"
    conn = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
            cur.execute(f"USE `{name}`")
            for statement in (*statements, "ANALYZE TABLE customers, orders"):
                cur.execute(statement)
        yield f"mysql://root@127.0.0.1/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def _alarms(result: PerfResult) -> list[str]:
    return [f"{f.query}: {f.category}" for f in result.findings if f.severity is not Severity.INFO]


def _detected(result: PerfResult) -> bool:
    regressed = {f.query for f in result.findings if f.category is Category.PLAN_REGRESSION}
    proven = {f.query for f in result.findings if f.category is Category.INDEX_ADVICE and f.rule == "proven"}
    return regressed == LOST and proven == LOST and {f.query for f in result.findings} <= LOST


def measure(*, pair: str, runs: int, rows: int) -> None:
    settings = PerformanceSettings.model_validate(WORKLOAD)
    source_db = (
        _mariadb(_mariadb_tables(rows) + INDEXES)
        if pair == "mariadb"
        else _postgres(_pg_tables(rows) + INDEXES)
    )
    with (
        source_db as source,
        _postgres(_pg_tables(rows) + INDEXES) as correct,
        _postgres(_pg_tables(rows)) as lost,
    ):
        false_alarms: list[str] = []
        detections = 0
        started = time.perf_counter()
        for run in range(runs):
            with connect(source) as src, connect(correct) as tgt:
                alarms = _alarms(run_workload(settings, source=src, target=tgt))
            if alarms:
                false_alarms.append(f"run {run + 1}: {', '.join(alarms)}")
            with connect(source) as src, connect(lost) as tgt:
                detections += _detected(run_workload(settings, source=src, target=tgt))
        seconds = (time.perf_counter() - started) / (2 * runs)
    print(
        f"{pair} -> postgresql, {rows:,} rows: false alarms {len(false_alarms)}/{runs}, "
        f"detections {detections}/{runs}, {seconds:.1f} s per workload run"
    )
    for line in false_alarms:
        print(f"  false alarm {line}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pm_pipeline_bench.perf_alarms", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument(
        "--pairs", default="postgresql,mariadb", help="sources to measure: postgresql, mariadb"
    )
    args = parser.parse_args(argv)
    for pair in args.pairs.split(","):
        measure(pair=pair.strip(), runs=args.runs, rows=args.rows)


if __name__ == "__main__":
    main()
