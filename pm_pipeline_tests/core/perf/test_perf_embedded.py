"""The performance monitor on embedded engines: SQLite and DuckDB give latency and plans, advice is
"unverified" (no hypothetical indexes), and DuckDB's scans (its design) are no plan regression."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pytest

from pm_pipeline.core.config.performance import PerformanceSettings
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import Category, Severity
from pm_pipeline.core.perf import PerfResult, run_workload

ROWS = 20_000
WORKLOAD = {
    "repetitions": 5,
    "warmup": 1,
    "workload": [
        {
            "name": "by_email",
            "sql": "SELECT id, name FROM customers WHERE email = :email",
            "params": {"email": "user77@example.com"},
        },
        {"name": "cities", "sql": "SELECT city, count(*) AS n FROM customers GROUP BY city ORDER BY city"},
    ],
}


def _sqlite(path: Path, *, index: bool) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, city TEXT)"
        )
        conn.executemany(
            "INSERT INTO customers VALUES (?, ?, ?, ?)",
            [(i, f"user{i}@example.com", f"name {i}", f"city {i % 40}") for i in range(1, ROWS + 1)],
        )
        if index:
            conn.execute("CREATE UNIQUE INDEX customers_email_key ON customers (email)")
    return f"sqlite:///{path}"


def _duckdb(path: Path) -> str:
    conn = duckdb.connect(str(path))
    conn.execute(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, email VARCHAR NOT NULL, name VARCHAR, city VARCHAR)"
    )
    conn.execute(
        f"INSERT INTO customers SELECT i, 'user' || i || '@example.com', 'name ' || i, 'city ' || (i % 40) "
        f"FROM range(1, {ROWS + 1}) t(i)"
    )
    conn.close()
    return f"duckdb:///{path}"


def _run(source_url: str, target_url: str) -> PerfResult:
    with connect(source_url) as source, connect(target_url) as target:
        return run_workload(PerformanceSettings.model_validate(WORKLOAD), source=source, target=target)


def test_sqlite_target_that_lost_its_index_gets_unverified_advice(tmp_path: Path) -> None:
    result = _run(_sqlite(tmp_path / "a.db", index=True), _sqlite(tmp_path / "b.db", index=False))
    found = {(f.query, f.category, f.severity, f.column, f.rule) for f in result.findings}
    planned = {
        ("by_email", Category.PLAN_REGRESSION, Severity.ERROR, "email", "index_to_scan"),
        ("by_email", Category.INDEX_ADVICE, Severity.INFO, "email", "unverified"),
    }
    assert planned <= found
    # The scan of 20,000 rows may also be measurably slower (true, and timing-dependent on a busy
    # machine); nothing else may be found, and nothing at all on the unchanged ``cities``.
    assert {(q, c) for q, c, *_ in found - planned} <= {("by_email", Category.QUERY_REGRESSION)}
    advice = next(f for f in result.findings if f.category is Category.INDEX_ADVICE)
    assert 'CREATE UNIQUE INDEX CONCURRENTLY ON "customers" ("email")' in advice.message


def test_sqlite_to_duckdb_gives_latency_and_plans_and_no_plan_alarm(tmp_path: Path) -> None:
    result = _run(_sqlite(tmp_path / "a.db", index=True), _duckdb(tmp_path / "b.duckdb"))
    # DuckDB scans by design: no plan regression, no index advice, the same answers. A point
    # lookup there may well be slower than on SQLite (a real regression, reported as such).
    assert {(f.query, f.category) for f in result.findings} <= {("by_email", Category.QUERY_REGRESSION)}
    by_email = next(q for q in result.queries if q.name == "by_email")
    assert by_email.source_plan is not None and by_email.target_plan is not None
    assert [(t.table, t.path, t.index) for t in by_email.source_plan.tables] == [
        ("customers", "index", "customers_email_key")
    ]
    assert [(t.table, t.path) for t in by_email.target_plan.tables] == [("customers", "scan")]
    assert by_email.source is not None and by_email.target is not None
    assert by_email.source.runs == 5 and by_email.target.p50 > 0


def test_a_wrong_answer_on_duckdb_is_found(tmp_path: Path) -> None:
    target = _duckdb(tmp_path / "b.duckdb")
    conn = duckdb.connect(str(tmp_path / "b.duckdb"))
    conn.execute("DELETE FROM customers WHERE id = 40")  # city 0 loses one row
    conn.close()
    result = _run(_sqlite(tmp_path / "a.db", index=True), target)
    mismatches = [f for f in result.findings if f.category is Category.RESULT_MISMATCH]
    assert [(f.query, f.severity) for f in mismatches] == [("cities", Severity.ERROR)]
    assert "the same number of rows (40) with different values" in mismatches[0].message


def test_a_query_the_target_cannot_run_is_a_mismatch_and_one_the_source_cannot_is_bad_input(
    tmp_path: Path,
) -> None:
    source = _sqlite(tmp_path / "a.db", index=True)
    target = tmp_path / "b.db"
    with sqlite3.connect(target) as conn:  # the migration lost the column "name"
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, city TEXT)")
    result = _run(source, f"sqlite:///{target}")
    refused = [f for f in result.findings if f.rule == "target_refused"]
    assert [(f.query, f.category, f.severity) for f in refused] == [
        ("by_email", Category.RESULT_MISMATCH, Severity.ERROR)
    ]
    assert "name" in refused[0].message
    settings = PerformanceSettings.model_validate(
        {"repetitions": 3, "workload": [{"name": "typo", "sql": "SELECT id FROM customer"}]}
    )
    with (
        connect(source) as src,
        connect(f"sqlite:///{target}") as tgt,
        pytest.raises(BadInputError, match="workload typo: the source cannot run the query"),
    ):
        run_workload(settings, source=src, target=tgt)


def test_a_sqlite_partial_unique_index_is_advised_by_hand_only(tmp_path: Path) -> None:
    source, target = _sqlite(tmp_path / "a.db", index=False), _sqlite(tmp_path / "b.db", index=False)
    with sqlite3.connect(tmp_path / "a.db") as conn:
        conn.execute("CREATE UNIQUE INDEX customers_live_email ON customers (email) WHERE city <> 'city 0'")
    query = {
        "name": "live",
        "sql": "SELECT id FROM customers WHERE email = :email AND city <> 'city 0'",
        "params": {"email": "user77@example.com"},
    }
    settings = PerformanceSettings.model_validate({**WORKLOAD, "workload": [query]})
    with connect(source) as src, connect(target) as tgt:
        result = run_workload(settings, source=src, target=tgt)
    advice = [f for f in result.findings if f.category is Category.INDEX_ADVICE]
    assert [f.rule for f in advice] == ["not_applicable"]
    assert "WHERE city <> 'city 0'" in advice[0].message and "CONCURRENTLY" not in advice[0].message
