"""The source profile behind generated expectations draws the same suite whatever part of the table
its first-rows sample sees, on PostgreSQL and MariaDB, and a one-column unique key spares counting
duplicates without hiding a duplicate on a side that lacks the key."""

from __future__ import annotations

from typing import Any

import pytest

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.findings import Category
from pm_pipeline.core.integrity import profile
from pm_pipeline.core.integrity.suite import generate_expectations
from pm_pipeline.core.reconcile.planning import plan_table
from pm_pipeline_tests.conftest import PgDatabase
from pm_pipeline_tests.support.expectations import run_table_expectations

# id unique by key; code unique; late: unique but for rows 29 and 30 (a duplicate no small sample
# sees); wide: 27 values, the first rows all 0 (a sample holds one); tier: three values; email: ''
# stands for NULL (declared) several times, unique otherwise.
POSTGRES = (
    "CREATE TABLE t (id int PRIMARY KEY, code text NOT NULL, late text NOT NULL, wide int NOT NULL, "
    "tier text NOT NULL, email text NOT NULL)",
    "INSERT INTO t SELECT g, 'c' || g, 'x' || least(g, 29), CASE WHEN g <= 4 THEN 0 ELSE g END, "
    "(ARRAY['gold', 'silver', 'bronze'])[1 + g % 3], CASE WHEN g % 5 = 0 THEN '' ELSE 'e' || g END "
    "FROM generate_series(1, 30) AS s(g) ORDER BY s.g",
)
MARIADB = (
    "CREATE TABLE t (id int PRIMARY KEY, code varchar(8) NOT NULL, late varchar(8) NOT NULL, "
    "wide int NOT NULL, tier varchar(8) NOT NULL, email varchar(8) NOT NULL)",
    "INSERT INTO t SELECT seq, CONCAT('c', seq), CONCAT('x', LEAST(seq, 29)), IF(seq <= 4, 0, seq), "
    "ELT(1 + seq % 3, 'gold', 'silver', 'bronze'), IF(seq % 5 = 0, '', CONCAT('e', seq)) "
    "FROM seq_1_to_30 ORDER BY seq",
)
MAPPING = TableMapping.model_validate({"source": "t", "columns": {"email": {"null_equals_empty": True}}})
EXPECTED = {
    ("id", "unique"),
    ("code", "unique"),
    ("code", "length_between"),
    ("wide", "between"),
    ("tier", "in_set"),
    ("tier", "length_between"),
    ("late", "length_between"),
    ("email", "length_between"),
}


def _suite(source: Connector, target: Connector) -> set[tuple[str, str]]:
    schema = source.introspect("t")
    plan = plan_table(
        mapping=MAPPING, source=schema, target=target.introspect("t"), source_zone="UTC", target_zone="UTC"
    )
    suite = generate_expectations(source, target, plan=plan, value_set_max=20, source_schema=schema)
    assert suite.errors == ()
    return {(e.column, e.kind) for e in suite.expectations if e.kind != "not_null"}


@pytest.mark.postgres
@pytest.mark.mariadb
@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
# 1 and 4 rows: the sample settles nothing, so whole-table counts must decide (late's duplicate and
# wide's 27 values lie beyond it); 10_000: the sample is the whole table and its counts are exact.
@pytest.mark.parametrize("sample_rows", [1, 4, 10_000])
def test_the_sample_never_changes_the_suite(
    engine: str, sample_rows: int, pg_db: PgDatabase, mariadb_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = pg_db if engine == "postgres" else mariadb_db
    database.execute(*(POSTGRES if engine == "postgres" else MARIADB))
    monkeypatch.setattr(profile, "SAMPLE_ROWS", sample_rows)
    with connect(database.url) as source, connect(database.url) as target:
        assert _suite(source, target) == EXPECTED


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("target_key", "failed"),
    [
        ("PRIMARY KEY", set()),  # the key holds ids distinct: nothing to count
        # a target created without its primary key and loaded twice over one row: a duplicate id
        ("", {("id", "expect_column_values_to_be_unique")}),
    ],
)
def test_a_unique_key_spares_the_duplicate_count(
    target_key: str, failed: set[tuple[str, str]], pg_db: PgDatabase, pg_db2: PgDatabase
) -> None:
    pg_db.execute(*POSTGRES)
    duplicate = "INSERT INTO t VALUES (3, 'c3b', 'x3', 3, 'gold', '')"
    pg_db2.execute(
        POSTGRES[0].replace("PRIMARY KEY", target_key), POSTGRES[1], *([] if target_key else [duplicate])
    )
    seen: list[str] = []
    run = run_table_expectations(pg_db.url, pg_db2.url, mapping=MAPPING, target_statements=seen)
    found = {(f.column, (f.rule or "").split("(")[0]) for f in run.findings}
    assert {f.category for f in run.findings} <= {Category.EXPECTATION_FAILED}
    assert found == failed
    # the target's one scan counts code's duplicates, and id's only where no key holds them distinct
    assert seen[0].count("COUNT(DISTINCT") == (1 if target_key else 2)
