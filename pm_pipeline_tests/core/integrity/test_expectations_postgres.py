"""Great Expectations suites (generated from the source's profile plus declared ones) run in SQL
against PostgreSQL, agree with our own SQL runner, write Data Docs, and never pull the table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.integrity import parse_integrity
from pm_pipeline.core.integrity.expectations import ExpectationRun, run_expectations

pytestmark = pytest.mark.postgres

SCHEMA = "CREATE TABLE items (id int PRIMARY KEY, code text, status text, quantity int, price numeric(8,2))"
SOURCE_ROWS = (
    "INSERT INTO items SELECT g, 'C' || lpad(g::text, 5, '0'), (ARRAY['new','paid','sent'])[1 + g % 3], "
    "1 + g % 9, (g % 50) + 0.99 FROM generate_series(1, 3000) g"
)
SETTINGS = {
    "expectations": {
        "items": [{"type": "expect_column_values_to_be_between", "column": "price", "max_value": 40}]
    },
}


def _run(source_url: str, target_url: str, runner: str | None, docs: str | None = None) -> ExpectationRun:
    with connect(source_url) as source, connect(target_url) as target:
        return run_expectations(
            source=source,
            target=target,
            mapping=TableMapping(source="items"),
            settings=parse_integrity(SETTINGS),
            source_schema=source.introspect("items"),
            target_schema=target.introspect("items"),
            data_docs_dir=docs,
            runner=runner,  # type: ignore[arg-type]
        )


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


def test_planted_violations_fail_the_generated_suite(
    pg_db, pg_db2, tmp_path: Path, statements: list[str]
) -> None:
    pg_db.execute(SCHEMA, SOURCE_ROWS)
    pg_db2.execute(
        SCHEMA,
        SOURCE_ROWS,
        "UPDATE items SET code = NULL WHERE id = 10",  # not null in the source
        "UPDATE items SET code = 'C00012' WHERE id = 11",  # now duplicated
        "UPDATE items SET status = 'lost' WHERE id = 12",  # outside the source's value set
        "UPDATE items SET quantity = -5 WHERE id = 13",  # below the source's range
    )
    gx_run = _run(pg_db.url, pg_db2.url, None, docs=str(tmp_path / "docs"))
    assert gx_run.runner == "great_expectations"
    expected = {
        ("code", "expect_column_values_to_not_be_null"),
        ("code", "expect_column_values_to_be_unique"),
        ("status", "expect_column_values_to_be_in_set"),
        ("quantity", "expect_column_values_to_be_between"),
        ("quantity", "expect_column_values_to_be_in_set"),
        ("price", "expect_column_values_to_be_between"),  # declared max 40; the source reaches 49.99
    }
    assert _failed(gx_run) == expected
    lost = next(f for f in gx_run.findings if f.column == "status")
    assert lost.target_value == ["lost"]
    assert gx_run.data_docs is not None and Path(gx_run.data_docs).is_file()
    # our SQL runner (used for DuckDB) means the same thing
    assert _failed(_run(pg_db.url, pg_db2.url, "sql")) == expected
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
    if dump := __import__("os").environ.get("PM_DUMP_GX_STATEMENTS"):
        Path(dump).write_text("\n".join(reads))


def test_clean_target_passes_generated_suite(pg_db, pg_db2) -> None:
    pg_db.execute(SCHEMA, SOURCE_ROWS)
    pg_db2.execute(SCHEMA, SOURCE_ROWS)
    run = _run(pg_db.url, pg_db2.url, None)
    failed = _failed(run)
    # only the declared expectation (price <= 40) can fail on an identical copy
    assert failed == {("price", "expect_column_values_to_be_between")}
    assert run.evaluated >= 10
