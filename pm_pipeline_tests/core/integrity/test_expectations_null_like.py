"""A generated uniqueness expectation counts what a declared rule makes NULL ('' under
null_equals_empty) as NULL on both sides, like every other generated expectation."""

from __future__ import annotations

import pytest

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.findings import Category
from pm_pipeline.core.integrity.expectations import ExpectationRun
from pm_pipeline_tests.conftest import PgDatabase
from pm_pipeline_tests.support.expectations import run_table_expectations

pytestmark = pytest.mark.postgres

TABLE = "CREATE TABLE people (id int PRIMARY KEY, email text)"
MAPPING = TableMapping.model_validate({"source": "people", "columns": {"email": {"null_equals_empty": True}}})


def _run(source_db: PgDatabase, target_db: PgDatabase) -> ExpectationRun:
    return run_table_expectations(source_db.url, target_db.url, mapping=MAPPING)


def test_empty_strings_declared_null_do_not_break_uniqueness(pg_db: PgDatabase, pg_db2: PgDatabase) -> None:
    # A loader that writes '' for NULL (declared null_equals_empty): the unique e-mails stay unique,
    # the several '' that stand for NULL are no duplicates.
    pg_db.execute(
        TABLE,
        "INSERT INTO people SELECT g, CASE WHEN g % 4 = 0 THEN NULL ELSE 'p' || g || '@x.org' END "
        "FROM generate_series(1, 20) g",
    )
    pg_db2.execute(
        TABLE,
        "INSERT INTO people SELECT g, CASE WHEN g % 4 = 0 THEN '' ELSE 'p' || g || '@x.org' END "
        "FROM generate_series(1, 20) g",
    )
    run = _run(pg_db, pg_db2)
    assert run.findings == ()
    assert run.evaluated > 0


def test_a_real_duplicate_is_still_found(pg_db: PgDatabase, pg_db2: PgDatabase) -> None:
    # The same load with one e-mail copied onto another row: a duplicate no rule explains.
    pg_db.execute(
        TABLE,
        "INSERT INTO people SELECT g, CASE WHEN g % 4 = 0 THEN NULL ELSE 'p' || g || '@x.org' END "
        "FROM generate_series(1, 20) g",
    )
    pg_db2.execute(
        TABLE,
        "INSERT INTO people SELECT g, CASE WHEN g % 4 = 0 THEN '' WHEN g = 3 THEN 'p2@x.org' "
        "ELSE 'p' || g || '@x.org' END FROM generate_series(1, 20) g",
    )
    failed = [f for f in _run(pg_db, pg_db2).findings if f.category is Category.EXPECTATION_FAILED]
    assert [(f.column, f.rule) for f in failed] == [("email", "expect_column_values_to_be_unique")]
    assert failed[0].target_value == ["p2@x.org", "p2@x.org"]
