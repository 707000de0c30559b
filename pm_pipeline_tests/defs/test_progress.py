"""Progress lines in a run's log: a line per tenth of each side's expected rows (or per million rows
without an estimate), rows shown against the estimate, the estimate spread over buckets, and a
closing line that says what was read and why."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pm_pipeline.core.config import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import TableReconciliation
from pm_pipeline.core.run import expected_rows, expected_rows_per_side
from pm_pipeline.defs.progress import ProgressLog


def test_a_line_at_every_tenth_of_the_expected_rows() -> None:
    lines: list[str] = []
    progress = ProgressLog("orders", {"source": 1000, "target": 1000}, lines.append)
    for _ in range(10):
        progress("source", 50)  # a line every second batch
    assert len(lines) == 5
    assert lines[-1] == "orders: source 500 / ~1,000 rows (50%), target 0 / ~1,000 rows (0%)"
    progress("target", 2500)  # past its estimate: one line, the share capped at 100%
    assert lines[-1] == "orders: source 500 / ~1,000 rows (50%), target 2,500 / ~1,000 rows (100%)"
    assert len(lines) == 6


def test_without_an_estimate_a_line_every_million_rows() -> None:
    lines: list[str] = []
    progress = ProgressLog("orders", {"source": None, "target": 0}, lines.append)
    for _ in range(5):
        progress("source", 400_000)
    assert lines == [
        "orders: source 1,200,000 rows, target 0 rows",
        "orders: source 2,000,000 rows, target 0 rows",
    ]


def test_expected_rows_are_the_estimates_spread_over_the_buckets(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
        db.executemany("INSERT INTO orders VALUES (?)", [(i,) for i in range(1001)])
        db.execute("CREATE TABLE orders_v2 (id INTEGER PRIMARY KEY)")
        db.executemany("INSERT INTO orders_v2 VALUES (?)", [(i,) for i in range(998)])
    with connect(f"sqlite:///{path}") as source, connect(f"sqlite:///{path}") as target:
        mapping = TableMapping(source="orders", target="orders_v2")
        whole = expected_rows_per_side(source=source, target=target, mapping=mapping)
        buckets = expected_rows_per_side(source=source, target=target, mapping=mapping, buckets=4)
        total = expected_rows(source=source, target=target, mapping=mapping)
    assert whole == {"source": 1001, "target": 998}
    assert buckets == {"source": 251, "target": 250}  # rounded up: a bucket never announces too few
    assert total == 1001 + 998  # the CLI's bar: both sides together


def _result(**changes: object) -> TableReconciliation:
    base: dict[str, object] = {
        "table": "orders", "target_table": "orders", "key_columns": ("id",), "keyless": False,
        "source_rows": 1000, "target_rows": 1000, "matched_rows": 999, "missing_rows": 1, "extra_rows": 1,
        "duplicate_keys_source": 0, "duplicate_keys_target": 0, "changed_rows": 2, "rows_equal_under_rule": 0,
        "compared_columns": 3, "columns": (), "findings": (), "strategy": "bucket", "seconds": 0.5,
    }  # fmt: skip
    return TableReconciliation(**{**base, **changes})  # type: ignore[arg-type]


def test_the_closing_line_says_when_fewer_rows_were_read_than_the_table_holds_and_why() -> None:
    lines: list[str] = []
    progress = ProgressLog("orders", {"source": 1000, "target": 1000}, lines.append)
    progress("source", 300)
    progress("target", 300)
    note = "3 of 16 buckets differ (18.75% of rows read row by row)"
    assert progress.finished(_result(strategy_note=note)) == (
        "orders: done, 1,000 source and 1,000 target rows; 1 missing, 1 extra, 2 changed "
        f"(bucket, 0.5 s, 600 rows streamed; {note})"
    )
    progress("source", 700)
    progress("target", 700)
    assert progress.finished(_result(strategy="arrow")) == (
        "orders: done, 1,000 source and 1,000 target rows; 1 missing, 1 extra, 2 changed (arrow, 0.5 s)"
    )
