"""Stored key-hash buckets are combined only when they still describe the table as the spec has it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pm_pipeline.core.config import MigrationSpec
from pm_pipeline.core.config.loader import spec_from_mapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.reconcile import ReconcileOptions, reconcile_table
from pm_pipeline.core.reconcile.combine import settings_digest
from pm_pipeline.core.reconcile.readiness import (
    BucketNames,
    BucketReconciliation,
    BucketsNotReady,
    PreviousCombination,
    check_buckets,
    combine_buckets,
    not_reconciled,
)

NAMES = BucketNames(asset="reconciliation_buckets/orders", job="reconcile_orders_buckets")


def _spec(tmp_path: Path, *, drop: tuple[int, ...] = ()) -> MigrationSpec:
    urls = {}
    for side in ("source", "target"):
        path = tmp_path / f"{side}.db"
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total TEXT)")
            db.executemany("INSERT INTO orders VALUES (?, ?)", [(i, f"{i}.50") for i in range(1, 41)])
            if side == "target":
                db.executemany("DELETE FROM orders WHERE id = ?", [(i,) for i in drop])
        urls[side] = f"sqlite:///{path}"
    return spec_from_mapping(
        {"name": "shop", "source": {"url": urls["source"]}, "target": {"url": urls["target"]},
         "tables": [{"source": "orders", "partitions": 2}]}
    )  # fmt: skip


def _buckets(
    spec: MigrationSpec, count: int, *, ran_at: str = "2026-01-01T00:00:00"
) -> dict[str, BucketReconciliation]:
    mapping = spec.tables[0]
    with connect(spec.source.url) as source, connect(spec.target.url) as target:
        return {
            str(index): BucketReconciliation(
                bucket=index,
                buckets=count,
                result=reconcile_table(
                    source=source,
                    target=target,
                    mapping=mapping,
                    options=ReconcileOptions(partition=(index, count)),
                ),
                ran_at=ran_at,
                settings=settings_digest(spec, mapping),
            )
            for index in range(count)
        }


def test_every_bucket_combined_is_the_whole_table(tmp_path: Path) -> None:
    spec = _spec(tmp_path, drop=(3, 17, 40))
    combined = combine_buckets(spec, spec.tables[0], 2, _buckets(spec, 2), previous=None, names=NAMES)
    assert combined.missing_rows == 3
    assert combined.source_rows == 40
    assert combined.strategy_note.startswith("2 buckets reconciled between")


def test_missing_recut_and_changed_buckets_are_named_with_what_to_run(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    mapping = spec.tables[0]
    settings = settings_digest(spec, mapping)
    buckets = _buckets(spec, 3)
    with pytest.raises(BucketsNotReady) as missing:
        check_buckets(mapping, 4, buckets, settings=settings, previous=None, names=NAMES)
    assert missing.value.missing == ("3",)
    assert "(a backfill, or the job reconcile_orders_buckets)" in str(missing.value)
    # Cut for 3 buckets, the spec now says 4: every present bucket is stale.
    assert missing.value.stale == ("0", "1", "2")
    changed = {**buckets, "1": BucketReconciliation(1, 3, buckets["1"].result, "2026-01-01", "other")}
    with pytest.raises(BucketsNotReady) as stale:
        check_buckets(mapping, 3, changed, settings=settings, previous=None, names=NAMES)
    assert stale.value.stale == ("1",)
    assert "settings changed since bucket 1 ran" in str(stale.value)
    assert "of reconciliation_buckets/orders again" in str(stale.value)


def test_a_half_done_recheck_is_refused(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    mapping = spec.tables[0]
    settings = settings_digest(spec, mapping)
    old = _buckets(spec, 2, ran_at="2026-01-01T00:00:00")
    previous = PreviousCombination(at="2026-01-02", inputs={k: b.ran_at for k, b in old.items()})
    # Bucket 0 reconciled again since the previous combination, bucket 1 not yet.
    mixed = {**old, "0": BucketReconciliation(0, 2, old["0"].result, "2026-01-03T00:00:00", settings)}
    with pytest.raises(BucketsNotReady) as half:
        check_buckets(mapping, 2, mixed, settings=settings, previous=previous, names=NAMES)
    assert half.value.stale == ("1",)
    assert "re-check is incomplete" in str(half.value)
    # Both again: combinable.
    again = {
        k: BucketReconciliation(b.bucket, 2, b.result, "2026-01-03T00:00:00", settings)
        for k, b in old.items()
    }
    check_buckets(mapping, 2, again, settings=settings, previous=previous, names=NAMES)


def test_a_table_not_reconciled_says_why(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    result = not_reconciled(spec.tables[0], "bucket(s) 1 of 2 have not been reconciled")
    assert result.strategy == "not reconciled"
    (finding,) = result.findings
    assert finding.message == "orders has not been reconciled: bucket(s) 1 of 2 have not been reconciled"
