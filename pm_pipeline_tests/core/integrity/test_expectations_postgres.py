"""Expectations on PostgreSQL: the generated ones run as our own SQL (one aggregate scan per side,
bounded samples ordered by the key), declared ones through Great Expectations (imported only for
them), which also writes Data Docs; an expectation GX cannot evaluate is a check_error."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pm_pipeline.core.findings import Category
from pm_pipeline.core.integrity.expectations import ExpectationRun
from pm_pipeline_tests.support.expectations import run_table_expectations

pytestmark = pytest.mark.postgres

SCHEMA = "CREATE TABLE items (id int PRIMARY KEY, code text, status text, quantity int, price numeric(8,2), paid boolean)"
SOURCE_ROWS = (
    "INSERT INTO items SELECT g, 'C' || lpad(g::text, 5, '0'), (ARRAY['new','paid','sent'])[1 + g % 3], "
    "1 + g % 9, (g % 50) + 0.99, g % 2 = 0 FROM generate_series(1, 3000) g"
)
DECLARED = {"items": [{"type": "expect_column_values_to_be_between", "column": "price", "max_value": 40}]}


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every statement SQLAlchemy (hence GX) sends while the test runs."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        seen.append(" ".join(str(statement).split()))

    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)


def _failed(run: ExpectationRun) -> set[tuple[str | None, str]]:
    return {(f.column, (f.rule or "").split("(")[0]) for f in run.findings}


PLANTED = (
    "UPDATE items SET code = NULL WHERE id = 10",  # not null in the source
    "UPDATE items SET code = 'C00012' WHERE id = 11",  # now duplicated
    "UPDATE items SET status = 'lost' WHERE id = 12",  # outside the source's value set
    "UPDATE items SET quantity = -5 WHERE id = 13",  # below the source's range
)
GENERATED_FAILURES = {
    ("code", "expect_column_values_to_not_be_null"),
    ("code", "expect_column_values_to_be_unique"),
    ("status", "expect_column_values_to_be_in_set"),
    ("quantity", "expect_column_values_to_be_between"),
    ("quantity", "expect_column_values_to_be_in_set"),
}


def test_planted_violations_fail_generated_and_declared_expectations(
    pg_db, pg_db2, tmp_path: Path, statements: list[str]
) -> None:
    pg_db.execute(SCHEMA, SOURCE_ROWS)
    pg_db2.execute(SCHEMA, SOURCE_ROWS, *PLANTED)
    gx_run = run_table_expectations(
        pg_db.url, pg_db2.url, declared=DECLARED, data_docs_dir=str(tmp_path / "docs")
    )
    assert gx_run.runner == "great_expectations"
    # declared max 40; the source reaches 49.99
    assert _failed(gx_run) == GENERATED_FAILURES | {("price", "expect_column_values_to_be_between")}
    lost = next(f for f in gx_run.findings if f.column == "status")
    assert lost.target_value == ["lost"] and "first at {'id': 12}" in lost.message
    assert gx_run.data_docs is not None and Path(gx_run.data_docs).is_file()
    # our SQL runs declared suites the same way (DuckDB targets)
    sql_run = run_table_expectations(pg_db.url, pg_db2.url, declared=DECLARED, runner="sql")
    assert _failed(sql_run) == _failed(gx_run)
    # GX sent aggregates and bounded samples only: no statement reads the rows of items unbounded
    reads = [s for s in statements if "items" in s and s.upper().startswith("SELECT")]
    assert reads
    unbounded = [
        s
        for s in reads
        if "LIMIT" not in s.upper()
        and not any(agg in s.lower() for agg in ("count(", "sum(", "min(", "max(", "avg("))
    ]
    assert unbounded == []


def test_generated_expectations_scan_each_side_once(pg_db, pg_db2) -> None:
    pg_db.execute(SCHEMA, SOURCE_ROWS)
    pg_db2.execute(SCHEMA, SOURCE_ROWS, *PLANTED)
    source_sql: list[str] = []
    target_sql: list[str] = []
    run = run_table_expectations(
        pg_db.url, pg_db2.url, source_statements=source_sql, target_statements=target_sql
    )
    assert _failed(run) == GENERATED_FAILURES
    assert run.evaluated >= 12 and run.runner == "sql"
    # the source: its profile and its value sets; integer ranges and value sets are read back
    # exactly, so no expectation needs checking on the source again
    assert len(source_sql) == 2
    # the target: one scan for every expectation (text uniqueness on 64-bit hashes), the failed
    # uniqueness counted again on the texts, then one bounded sample per failed one, by key
    scan, recount, *samples = target_sql
    assert scan.count("COUNT(") >= run.evaluated
    assert "hashtextextended" in scan
    assert "COUNT(DISTINCT" in recount and "hashtextextended" not in recount and "LIMIT" not in recount
    assert len(samples) == len(GENERATED_FAILURES)
    assert all('ORDER BY "id" LIMIT 20' in sql for sql in samples)


def test_clean_target_passes_and_needs_no_great_expectations(pg_db, pg_db2) -> None:
    pg_db.execute(SCHEMA, SOURCE_ROWS)
    pg_db2.execute(SCHEMA, SOURCE_ROWS)
    # a fresh interpreter: GX is imported only when a declared suite runs
    script = (
        "import sys\n"
        "from pm_pipeline.core.config.spec import TableMapping\n"
        "from pm_pipeline.core.connectors import connect\n"
        "from pm_pipeline.core.integrity import parse_integrity\n"
        "from pm_pipeline.core.integrity.expectations import run_expectations\n"
        f"with connect({pg_db.url!r}) as s, connect({pg_db2.url!r}) as t:\n"
        "    run = run_expectations(source=s, target=t, mapping=TableMapping(source='items'),\n"
        "        settings=parse_integrity({}), source_schema=s.introspect('items'),\n"
        "        target_schema=t.introspect('items'))\n"
        "print(run.evaluated, len(run.findings), 'great_expectations' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    evaluated, findings, imported = out.split()
    assert int(evaluated) >= 12 and findings == "0" and imported == "False"


def test_expectation_great_expectations_cannot_evaluate_is_a_check_error(pg_db, pg_db2) -> None:
    pg_db.execute(SCHEMA, SOURCE_ROWS)
    pg_db2.execute(SCHEMA, SOURCE_ROWS)
    # raw 0/1 flags against a boolean column: GX raises inside, it does not find a failure
    declared = {
        "items": [
            {"type": "expect_column_values_to_be_in_set", "column": "paid", "value_set": [0, 1]},
            {"type": "expect_column_values_to_not_be_null", "column": "code"},
        ]
    }
    run = run_table_expectations(pg_db.url, pg_db2.url, declared=declared)
    (error,) = run.findings
    assert error.category is Category.CHECK_ERROR and error.column == "paid"
    assert "expect_column_values_to_be_in_set" in error.message and "items.paid" in error.message
    assert run.failed == 0 and run.errors == 1


def test_bounds_a_driver_may_round_are_checked_on_the_source_first(pg_db, pg_db2) -> None:
    # Timestamps pass through the driver's datetime and back as parameters: their range is checked
    # on the source before the target is judged by it; integers need no such check.
    table = "CREATE TABLE events (id int PRIMARY KEY, seen timestamp(6), amount int)"
    rows = (
        "INSERT INTO events SELECT g, timestamp '2024-01-01 00:00:00.123456' + g * interval '1 second', g "
        "FROM generate_series(1, 500) g"
    )
    pg_db.execute(table, rows)
    pg_db2.execute(table, rows)
    source_sql: list[str] = []
    run = run_table_expectations(
        pg_db.url,
        pg_db2.url,
        table="events",
        source_zone="UTC",
        target_zone="UTC",
        source_statements=source_sql,
    )
    assert run.passed and run.evaluated >= 3
    checked = [sql for sql in source_sql if '"seen" <' in sql]
    assert len(checked) == 1 and '"amount" <' not in checked[0]
