"""Connector.estimate_rows on every engine: exact counts for small tables, the engine's statistics
for large ones (the size threshold lowered so that a small table takes that path), missing tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pm_pipeline.core.connectors import connect
from pm_pipeline.core.errors import TableNotFoundError
from pm_pipeline_tests.conftest import MyDatabase, PgDatabase

ROWS = 3000


@pytest.mark.postgres
def test_postgres_counts_small_tables_and_scales_statistics_for_large_ones(pg_db: PgDatabase) -> None:
    pg_db.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, note text)",
        f"INSERT INTO orders SELECT g, 'note ' || g FROM generate_series(1, {ROWS}) g",
    )
    with connect(pg_db.url) as conn:
        assert conn.estimate_rows("orders") == ROWS
        conn.exact_count_bytes = 0  # type: ignore[attr-defined]
        pg_db.execute("ANALYZE orders")
        assert conn.estimate_rows("orders") == ROWS
        # Rows added after ANALYZE: the planner scales the analysed density to the pages now used.
        pg_db.execute(
            f"INSERT INTO orders SELECT g, 'note ' || g FROM generate_series({ROWS + 1}, {3 * ROWS}) g"
        )
        estimate = conn.estimate_rows("orders")
        assert estimate is not None and 0.9 * 3 * ROWS <= estimate <= 1.1 * 3 * ROWS
        with pytest.raises(TableNotFoundError, match="nowhere"):
            conn.estimate_rows("nowhere")


@pytest.mark.postgres
def test_postgres_estimates_a_partitioned_table_without_counting_it(pg_db: PgDatabase) -> None:
    # A declaratively partitioned table has no heap of its own: its size says nothing.
    pg_db.execute(
        "CREATE TABLE events (id int, region text) PARTITION BY LIST (region)",
        "CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu')",
        "CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us')",
        f"INSERT INTO events SELECT g, CASE WHEN g % 3 = 0 THEN 'us' ELSE 'eu' END FROM generate_series(1, {ROWS}) g",
        "ANALYZE events",
    )
    with connect(pg_db.url) as conn:
        assert conn.estimate_rows("events") == ROWS


@pytest.mark.mariadb
def test_mariadb_counts_small_tables_and_reads_table_rows_for_large_ones(mariadb_db: MyDatabase) -> None:
    values = ", ".join(f"({i}, 'note {i}')" for i in range(1, ROWS + 1))
    mariadb_db.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, note varchar(40)) ENGINE=InnoDB",
        f"INSERT INTO orders VALUES {values}",
        "ANALYZE TABLE orders",
    )
    with connect(mariadb_db.url) as conn:
        assert conn.estimate_rows("orders") == ROWS
        conn.exact_count_bytes = 0  # type: ignore[attr-defined]
        (table_rows,) = mariadb_db.query(
            f"SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{mariadb_db.name}' "
            "AND TABLE_NAME = 'orders'"
        )
        estimate = conn.estimate_rows("orders")
        assert estimate == table_rows[0]
        assert estimate is not None and 0.5 * ROWS <= estimate <= 1.5 * ROWS
        with pytest.raises(TableNotFoundError, match="nowhere"):
            conn.estimate_rows("nowhere")


def test_duckdb_reads_the_catalog_row_count(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute(f"CREATE TABLE orders AS SELECT range AS id FROM range({ROWS})")
        db.execute("CREATE TABLE empty (id int)")
    with connect(f"duckdb:///{path}") as conn:
        assert conn.estimate_rows("orders") == ROWS
        assert conn.estimate_rows("empty") == 0
        with pytest.raises(TableNotFoundError):
            conn.estimate_rows("nowhere")


def test_sqlite_counts_small_files_and_reads_analyze_statistics_in_large_ones(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)")
        db.executemany("INSERT INTO orders VALUES (?, ?)", [(i, f"note {i}") for i in range(ROWS)])
        db.execute("ANALYZE")
        # Added after ANALYZE: only an exact count sees them.
        db.executemany("INSERT INTO orders VALUES (?, ?)", [(i, "late") for i in range(ROWS, ROWS + 500)])
        db.execute("CREATE TABLE unanalysed (id INTEGER)")
        db.executemany("INSERT INTO unanalysed VALUES (?)", [(i,) for i in range(70)])
    with connect(f"sqlite:///{path}") as conn:
        assert conn.estimate_rows("orders") == ROWS + 500
        conn.exact_count_bytes = 0  # type: ignore[attr-defined]
        assert conn.estimate_rows("orders") == ROWS
        assert conn.estimate_rows("unanalysed") == 70
        with pytest.raises(TableNotFoundError):
            conn.estimate_rows("nowhere")


def test_parquet_row_counts_come_from_the_file_footers(tmp_path: Path) -> None:
    folder = tmp_path / "lake" / "orders"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"id": list(range(1000))}), folder / "part-0.parquet")
    pq.write_table(pa.table({"id": list(range(1000, ROWS))}), folder / "part-1.parquet")
    with connect(f"parquet:///{tmp_path / 'lake'}") as conn:
        assert conn.estimate_rows("orders") == ROWS
        with pytest.raises(TableNotFoundError, match="nowhere"):
            conn.estimate_rows("nowhere")


def test_csv_is_counted_when_small_and_sampled_when_large(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    lines = ["id,note"] + [f"{i:05d},note {i:05d}" for i in range(ROWS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with connect(f"csv:///{path}") as conn:
        assert conn.estimate_rows("orders") == ROWS
        conn.csv_sample_bytes = 4096  # type: ignore[attr-defined]
        estimate = conn.estimate_rows("orders")
        assert estimate is not None and 0.95 * ROWS <= estimate <= 1.05 * ROWS
