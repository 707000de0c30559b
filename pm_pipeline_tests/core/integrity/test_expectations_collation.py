"""Generated expectations compare text byte for byte on a PostgreSQL or DuckDB target whose column
keeps a case-insensitive collation (nondeterministic ICU, NOCASE), as a MariaDB _ci column is often
carried over."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pm_pipeline.core.findings import Category
from pm_pipeline.core.integrity.expectations import ExpectationRun
from pm_pipeline_tests.conftest import PgDatabase
from pm_pipeline_tests.support.expectations import run_table_expectations

pytestmark = pytest.mark.postgres

CI = "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
ROWS = "INSERT INTO codes SELECT g, CASE WHEN g % 2 = 0 THEN 'c' || g ELSE 'C' || (g + 1) END FROM generate_series(1, 12) g"


def _run(source_db: PgDatabase, target_db: PgDatabase | str) -> ExpectationRun:
    target_url = target_db if isinstance(target_db, str) else target_db.url
    return run_table_expectations(source_db.url, target_url, table="codes")


def test_values_a_case_insensitive_collation_holds_equal_stay_distinct(
    pg_db: PgDatabase, pg_db2: PgDatabase
) -> None:
    # 'c2' and 'C2' are two codes in the source; the target's collation calls them equal, yet it
    # holds both exactly as written: nothing was lost, so no uniqueness failure.
    pg_db.execute("CREATE TABLE codes (id int PRIMARY KEY, code text)", ROWS)
    pg_db2.execute(CI, "CREATE TABLE codes (id int PRIMARY KEY, code text COLLATE ci)", ROWS)
    run = _run(pg_db, pg_db2)
    assert run.findings == ()
    assert run.evaluated > 0


def test_a_value_changed_in_case_only_is_still_found(pg_db: PgDatabase, pg_db2: PgDatabase) -> None:
    # The same load with one code's case changed: 'c2' became 'C2', a value the source never held
    # in that row; byte for byte, the target now holds 'C2' twice.
    pg_db.execute("CREATE TABLE codes (id int PRIMARY KEY, code text)", ROWS)
    pg_db2.execute(
        CI,
        "CREATE TABLE codes (id int PRIMARY KEY, code text COLLATE ci)",
        ROWS,
        "UPDATE codes SET code = 'C2' WHERE id = 2",
    )
    failed = [f for f in _run(pg_db, pg_db2).findings if f.category is Category.EXPECTATION_FAILED]
    assert [(f.column, f.rule) for f in failed] == [("code", "expect_column_values_to_be_unique")]


def test_a_nocase_duckdb_target_keeps_distinct_codes_distinct(pg_db: PgDatabase, tmp_path: Path) -> None:
    # The same correct load into DuckDB, into a VARCHAR COLLATE NOCASE column.
    pg_db.execute("CREATE TABLE codes (id int PRIMARY KEY, code text)", ROWS)
    path = tmp_path / "target.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE codes (id INTEGER PRIMARY KEY, code VARCHAR COLLATE NOCASE)")
        conn.execute(ROWS.replace("generate_series(1, 12) g", "range(1, 13) r(g)"))
    run = _run(pg_db, f"duckdb:///{path}")
    assert run.findings == ()
    assert run.evaluated > 0
