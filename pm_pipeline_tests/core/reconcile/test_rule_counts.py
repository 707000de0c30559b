"""Rows equal only under a declared rule are counted as rows, not as the sum of their cells."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pm_pipeline.core.config.spec import ColumnRule, TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.reconcile import reconcile_table


def test_rows_equal_under_rule_counts_rows(tmp_path: Path) -> None:
    for name, rows in (
        ("s.duckdb", "(1,'a','x',1.0),(2,'b','y',2.0),(3,'c','z',3.0)"),
        # row 1: two ruled cells (case and float noise); row 2: one ruled cell; row 3 exact.
        ("t.duckdb", "(1,'A','x',1.0000000000001),(2,'B','y',2.0),(3,'c','z',3.0)"),
    ):
        connection = duckdb.connect(str(tmp_path / name))
        connection.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, a VARCHAR, b VARCHAR, f DOUBLE)")
        connection.execute(f"INSERT INTO t VALUES {rows}")
        connection.close()
    mapping = TableMapping(source="t", columns={"a": ColumnRule(case_insensitive=True)})
    with (
        connect(f"duckdb:///{tmp_path / 's.duckdb'}") as source,
        connect(f"duckdb:///{tmp_path / 't.duckdb'}") as target,
    ):
        result = reconcile_table(source=source, target=target, mapping=mapping)
    assert result.findings == ()
    assert result.rows_equal_under_rule == 2
    by_column = {c.column: sum(c.equal_under_rule.values()) for c in result.columns}
    assert by_column == {"a": 2, "b": 0, "f": 1}
