"""Progress lines in a run's log: a line per tenth of each side's expected rows (or per million rows
without an estimate), rows shown against the estimate, and the estimate spread over buckets."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pm_pipeline.core.connectors import connect
from pm_pipeline.defs.progress import ProgressLog, expected_per_side


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
        whole = expected_per_side(source, target, source_table="orders", target_table="orders_v2")
        buckets = expected_per_side(
            source, target, source_table="orders", target_table="orders_v2", buckets=4
        )
    assert whole == {"source": 1001, "target": 998}
    assert buckets == {"source": 251, "target": 250}  # rounded up: a bucket never announces too few
