"""Uniqueness of a text column counted on 64-bit hashes (PostgreSQL): the duplicates past the
bounded sample still decide whether the source keeps the expectation, and the count a finding
states is the exact one."""

from __future__ import annotations

import re

import pytest

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.integrity.expectations import ExpectationRun
from pm_pipeline.core.integrity.profile import SAMPLE_ROWS
from pm_pipeline.core.integrity.sql_expectations import (
    GeneratedExpectation,
    counted_on_hashes,
    exact_surplus,
)
from pm_pipeline.core.reconcile.planning import plan_table
from pm_pipeline_tests.support.expectations import run_table_expectations

pytestmark = pytest.mark.postgres

ROWS = SAMPLE_ROWS + 10_000
TABLE = "CREATE TABLE items (id int PRIMARY KEY, code text)"
FILL = f"INSERT INTO items SELECT g, 'code-' || g FROM generate_series(1, {ROWS}) g"
UNIQUE_CODE = "expect_column_values_to_be_unique"


def _load(database, *statements: str) -> None:  # type: ignore[no-untyped-def]
    database.execute(TABLE, FILL, *statements)


def _run(source_url: str, target_url: str) -> ExpectationRun:
    return run_table_expectations(source_url, target_url)


def _late_duplicates(count: int) -> str:
    """``count`` rows past the sample made copies of other rows' codes."""
    return f"UPDATE items SET code = 'code-' || (id - 1) WHERE id > {ROWS} - {2 * count} AND id % 2 = 0"


def _unique_findings(run: ExpectationRun) -> list[str]:
    return [f.message for f in run.findings if (f.rule or "").startswith(UNIQUE_CODE)]


@pytest.mark.parametrize(
    "duplicates",
    [
        1,  # one or two repeated hashes: the source counts again on the texts
        2,
        5,  # three or more: the candidate is left out on the hashes alone
    ],
)
def test_a_source_with_duplicates_past_the_sample_gets_no_uniqueness_expectation(
    pg_db, pg_db2, duplicates: int
) -> None:
    _load(pg_db, _late_duplicates(duplicates))
    _load(pg_db2, _late_duplicates(duplicates), "UPDATE items SET code = 'code-1' WHERE id = 2")
    assert _unique_findings(_run(pg_db.url, pg_db2.url)) == []


def test_a_unique_source_keeps_the_expectation_and_the_target_count_is_exact(pg_db, pg_db2) -> None:
    _load(pg_db)
    _load(pg_db2, _late_duplicates(3))
    run = _run(pg_db.url, pg_db2.url)
    found = [f for f in run.findings if (f.rule or "").startswith(UNIQUE_CODE)]
    assert len(found) == 1
    assert found[0].column == "code"
    assert re.search(r"\b3 ", found[0].message), found[0].message  # three surplus duplicates


def test_an_overstated_count_on_hashes_is_taken_again_on_the_texts(pg_db) -> None:
    _load(pg_db, _late_duplicates(2))
    with connect(pg_db.url) as db:
        schema = db.introspect("items")
        plan = plan_table(mapping=TableMapping(source="items"), source=schema, target=schema)
        code = next(p for p in plan.all_plans if p.name == "code")
        unique = GeneratedExpectation("unique", code)
        assert counted_on_hashes(db, unique, "source")
        for overstated in (1, 2, 7):
            assert (
                exact_surplus(db, table="items", expectation=unique, side="source", counted=overstated) == 2
            )
        assert exact_surplus(db, table="items", expectation=unique, side="source", counted=0) == 0
