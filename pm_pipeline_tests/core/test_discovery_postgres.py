"""Discovery pairs tables on real PostgreSQL databases: an exact name wins over a case-folded one,
whatever order the tables are listed in."""

from __future__ import annotations

import pytest

from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import Category
from pm_pipeline.core.run import select_tables, spec_for_urls
from pm_pipeline_tests.conftest import PgDatabase

pytestmark = pytest.mark.postgres


def test_an_exact_table_name_is_paired_before_a_case_folded_one(
    pg_db: PgDatabase, pg_db2: PgDatabase
) -> None:
    # A legacy "Orders" beside the real orders (quoted names); only orders was migrated. "Orders"
    # sorts first, and folded to lower case it names the target's orders too: pairing it would
    # compare the legacy table's rows against the migrated ones and call orders missing.
    pg_db.execute('CREATE TABLE "Orders" (id int PRIMARY KEY)', "CREATE TABLE orders (id int PRIMARY KEY)")
    pg_db2.execute("CREATE TABLE orders (id int PRIMARY KEY)")
    spec = spec_for_urls(source_url=pg_db.url, target_url=pg_db2.url)
    with connect(pg_db.url) as source, connect(pg_db2.url) as target:
        selection = select_tables(spec, source=source, target=target)
    assert [(m.source, m.target_name) for m in selection.mappings] == [("orders", "orders")]
    assert [(f.table, f.category) for f in selection.findings] == [("Orders", Category.TABLE_MISSING)]
