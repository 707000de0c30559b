"""Sets of text compared element by element, byte for byte, whatever collation the array's column has."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from pm_pipeline.core.config.spec import ColumnRule, TableMapping
from pm_pipeline.core.findings import Category

from .engines import DuckSide, Pair, PgSide

pytestmark = pytest.mark.postgres
STRATEGIES = ("arrow", "pushdown", "bucket")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_case_insensitive_collation_does_not_merge_set_elements(
    pg_db: Any, tmp_path: Path, strategy: str
) -> None:
    # A MariaDB _ci column often lands under a nondeterministic ICU collation; a set that lost 'A'
    # beside 'a' must still differ, so the DISTINCT that builds a set in SQL runs byte-wise.
    pg_db.execute(
        "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
        "CREATE TABLE t (id int PRIMARY KEY, tags text[] COLLATE ci)",
        "INSERT INTO t VALUES (1, '{a,A}'), (2, '{b}')",
    )
    target = tmp_path / "target.duckdb"
    with duckdb.connect(str(target)) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, tags VARCHAR[])")
        conn.execute("INSERT INTO t VALUES (1, ['a']), (2, ['b', 'b'])")
    pair = Pair("postgres->duckdb", PgSide(pg_db.url), DuckSide(target))
    mapping = TableMapping(
        source="t", strategy=strategy, columns={"tags": ColumnRule(list_order="unordered")}
    )
    result = pair.reconcile(mapping)
    found = sorted((str(f.category), f.column, (f.key or {}).get("id")) for f in result.findings)
    assert found == [(str(Category.VALUE_MISMATCH), "tags", 1)]
