"""Table fingerprints on real engines, and the budgeted drift scan that compares them tick to tick."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core.connectors import connect
from pm_pipeline.core.monitor.fingerprint import Fingerprint, fingerprint, scan_drift


@pytest.mark.postgres
def test_postgres_fingerprint_sees_inserts_updates_and_clock(pg_db: Any) -> None:
    pg_db.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, amount numeric(10,2), updated timestamp)",
        "INSERT INTO orders SELECT g, g * 1.5, '2024-01-01'::timestamp + g * interval '1 minute' "
        "FROM generate_series(1, 500) g",
    )
    with connect(pg_db.url) as conn:
        first = fingerprint(conn, "orders", updated_at="updated")
        again = fingerprint(conn, "orders", updated_at="updated")
        pg_db.execute("UPDATE orders SET amount = amount + 1 WHERE id = 7")  # no clock column touched
        updated = fingerprint(conn, "orders", updated_at="updated")
        large = fingerprint(conn, "orders", checksum_max_rows=100)
    assert first == again
    assert first.rows == 500 and first.max_updated_at == "2024-01-01 08:20:00"
    assert first.checksum is not None and updated.checksum != first.checksum
    assert large.checksum is None and large.max_updated_at is None


def test_duckdb_fingerprint(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "t.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE TABLE t AS SELECT range AS id, range % 7 AS v FROM range(300)")
    with connect(f"duckdb:///{path}") as conn:
        before = fingerprint(conn, "t")
    with duckdb.connect(str(path)) as db:
        db.execute("UPDATE t SET v = 99 WHERE id = 3")
    with connect(f"duckdb:///{path}") as conn:
        after = fingerprint(conn, "t")
    assert before.rows == after.rows == 300
    assert before.checksum is not None and before.checksum != after.checksum


def _fp(rows: int) -> dict[str, Fingerprint]:
    return {"source": Fingerprint(rows=rows), "target": Fingerprint(rows=rows)}


def test_scan_reports_only_changed_tables_and_not_first_sightings() -> None:
    now = {"a": 1, "b": 2, "c": 3}
    scan = scan_drift(
        ["a", "b", "c"], {"a": _fp(1), "b": _fp(1)}, measure=lambda t: _fp(now[t]), budget_seconds=60
    )
    assert scan.changed == ("b",) and scan.pending == ()
    assert scan.fingerprints["c"] == _fp(3)


def test_scan_stops_at_the_budget_and_resumes_with_pending_tables() -> None:
    ticks = iter(range(100))
    clock = lambda: float(next(ticks))  # noqa: E731 - each call advances one second
    scan = scan_drift(["a", "b", "c"], {}, measure=lambda t: _fp(1), budget_seconds=1.5, clock=clock)
    assert scan.pending == ("c",)
    resumed = scan_drift(
        ["a", "b", "c"],
        scan.fingerprints,
        measure=lambda t: _fp(2),
        budget_seconds=0.5,
        pending_first=scan.pending,
        clock=clock,
    )
    assert list(resumed.fingerprints) == ["a", "b", "c"] and resumed.pending == ("a", "b")
    assert resumed.fingerprints["c"] == _fp(2) and resumed.fingerprints["a"] == _fp(1)
