"""MariaDB datetimes with a zero month or day ('2024-00-00 10:00:00', stored under a permissive
sql_mode) are values of their own in every strategy: kept, they pass; lost or invented, they are
differences at their key; they never stop the run."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from pm_pipeline.core.canonical import values
from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.findings import Category

from .engines import MySide, Pair, PgSide

STRATEGIES = ("arrow", "pushdown", "bucket")
LEGACY = (
    "SET SESSION sql_mode = ''",
    "CREATE TABLE t (id int PRIMARY KEY, seen datetime, note varchar(10))",
    "INSERT INTO t VALUES (1, '2024-00-00 10:00:00', 'a'), (2, '2024-05-00 01:02:03', 'b'),"
    " (3, '2024-05-01 10:00:00', 'c'), (4, NULL, 'd')",
)


def test_text_and_packed_readings_agree_and_stay_apart_from_every_instant() -> None:
    text = pa.array(["2024-00-00 10:00:00", " 2024-05-00 01:02:03", "2024-05-01 10:00:00", None])
    packed = pa.array([20240000100000, 20240500010203, 20240501100000, None], pa.uint64())
    from_text = values._finite_instant(text, zone="UTC", map_zero=True).to_pylist()
    from_packed = values._packed_instant(packed, zone="UTC", map_zero=True).to_pylist()
    assert from_text == from_packed
    first, second, real, missing = from_text
    assert first != second and missing is None
    # between -infinity and every real instant, so never equal to a value a target can hold
    assert -values.INFINITE_INSTANT < min(first, second) <= max(first, second) < real


@pytest.mark.mariadb
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_kept_legacy_datetimes_pass(mariadb_db: Any, strategy: str) -> None:
    # MariaDB -> MariaDB under the same sql_mode keeps them: no finding, no crash.
    mariadb_db.execute(*LEGACY, "CREATE TABLE u LIKE t", "INSERT INTO u SELECT * FROM t")
    pair = Pair("mariadb->mariadb", MySide(mariadb_db.url), MySide(mariadb_db.url))
    result = pair.reconcile(TableMapping(source="t", target="u", strategy=strategy))
    assert result.findings == (), result.findings


@pytest.mark.mariadb
@pytest.mark.postgres
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_lost_legacy_datetimes_are_differences_at_their_keys(
    mariadb_db: Any, pg_db: Any, strategy: str
) -> None:
    # Before: "no such date and time: 20240000100000" ended the whole run with exit 2.
    mariadb_db.execute(*LEGACY)
    pg_db.execute(
        "CREATE TABLE t (id int PRIMARY KEY, seen timestamp(0), note varchar(10))",
        "INSERT INTO t VALUES (1, NULL, 'a'), (2, '2024-05-01 01:02:03', 'b'),"
        " (3, '2024-05-01 10:00:00', 'c'), (4, NULL, 'd')",
    )
    pair = Pair("mariadb->postgres", MySide(mariadb_db.url), PgSide(pg_db.url))
    result = pair.reconcile(TableMapping(source="t", strategy=strategy))
    found = sorted((str(f.category), f.column, f.key["id"] if f.key else None) for f in result.findings)
    assert found == [(str(Category.VALUE_MISMATCH), "seen", 1), (str(Category.VALUE_MISMATCH), "seen", 2)]
    shown = sorted(str(f.source_canonical) for f in result.findings)
    assert shown == ["2024-00-00 10:00:00 (no such date)", "2024-05-00 01:02:03 (no such date)"]
