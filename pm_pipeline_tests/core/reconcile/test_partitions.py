"""Key-hash partitions: both sides put a key in the same partition whatever each engine can hash,
buckets inside a partition all receive rows, and a keyless table is read once, by partition 0."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from pm_pipeline.core.config.spec import Endpoint, TableMapping
from pm_pipeline.core.connectors.base import DEFAULT_BATCH_ROWS, parse_url
from pm_pipeline.core.connectors.duckdb import DuckDbConnector
from pm_pipeline.core.findings import TableReconciliation
from pm_pipeline.core.reconcile import ReconcileOptions, reconcile_table

from .engines import Col, DuckSide, Pair

STRATEGIES = ("arrow", "pushdown", "bucket")
PARTS = 3


def _duck_pair(tmp_path: Path) -> Pair:
    return Pair("duckdb->duckdb", DuckSide(tmp_path / "s.duckdb"), DuckSide(tmp_path / "t.duckdb"))


def _counts(result: TableReconciliation) -> tuple[int, ...]:
    return (
        result.source_rows,
        result.target_rows,
        result.matched_rows,
        result.missing_rows,
        result.extra_rows,
        result.changed_rows,
    )


def test_a_key_one_side_cannot_hash_in_sql_lands_in_the_same_partition_on_both_sides(tmp_path: Path) -> None:
    # Sensor readings keyed by a naive wall-clock time: the source wrote Paris time, the target
    # UTC. Only the target can hash the key in SQL; the source hashes its UTC instants here.
    pair = _duck_pair(tmp_path)
    columns = [Col("sensor", "int"), Col("ts", "ts"), Col("reading", "text")]
    start = dt.datetime(2024, 1, 10, 8)  # winter: Paris is UTC+1
    source = [(s, start + dt.timedelta(hours=h), f"r{s}.{h}") for s in range(3) for h in range(30)]
    target = [(s, ts - dt.timedelta(hours=1), reading) for s, ts, reading in source]
    target[5] = (*target[5][:2], "changed")
    pair.source.create("readings", columns, source, key=["sensor", "ts"])
    pair.target.create("readings", columns, target, key=["sensor", "ts"])
    mapping = TableMapping(source="readings", key=["sensor", "ts"])
    zones = {"source_zone": "Europe/Paris", "target_zone": "UTC"}
    for strategy in STRATEGIES:
        whole = pair.reconcile(mapping, **zones, options=ReconcileOptions(strategy=strategy))
        assert _counts(whole) == (90, 90, 90, 0, 0, 1), strategy
        parts = [
            pair.reconcile(
                mapping, **zones, options=ReconcileOptions(strategy=strategy, partition=(i, PARTS))
            )
            for i in range(PARTS)
        ]
        assert all(part.source_rows for part in parts), strategy  # the keys really were spread
        summed = tuple(sum(values) for values in zip(*(_counts(part) for part in parts), strict=True))
        assert summed == _counts(whole), strategy


def test_every_bucket_inside_a_partition_receives_rows(tmp_path: Path) -> None:
    # Partitions take the key hash modulo their count; buckets taking the same hash modulo theirs
    # would leave every other bucket of a partition empty when the counts share a factor.
    pair = _duck_pair(tmp_path)
    columns = [Col("id", "int"), Col("txt", "text")]
    pair.source.create("spread", columns, [(k, f"a{k}") for k in range(1, 801)], key=["id"])
    pair.target.create("spread", columns, [(k, f"b{k}") for k in range(1, 801)], key=["id"])
    mapping = TableMapping(source="spread", key=["id"])
    # 800 rows in 2 partitions of about 400: 4 buckets of 100 rows.
    options = ReconcileOptions(strategy="bucket", partition=(0, 2), bucket_rows=100)
    result = pair.reconcile(mapping, options=options)
    assert result.strategy == "bucket"
    differing, total = (int(n) for n in re.findall(r"(\d+) of (\d+) buckets differ", result.strategy_note)[0])
    assert (differing, total) == (4, 4)  # every row differs: every bucket holding a row differs
    assert result.changed_rows == result.source_rows > 0


class _CountingDuckDb(DuckDbConnector):
    """A DuckDB connector that records the queries it streams."""

    def __init__(self, url: str) -> None:
        super().__init__(parse_url(url))
        self.streamed: list[str] = []

    def stream_query(
        self, sql: str, params: Sequence[Any] = (), *, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> Iterator[pa.RecordBatch]:
        self.streamed.append(sql)
        return super().stream_query(sql, params, batch_rows=batch_rows)


def test_a_keyless_table_is_read_by_partition_zero_only(tmp_path: Path) -> None:
    pair = _duck_pair(tmp_path)
    columns = [Col("event", "text"), Col("n", "int")]
    rows = [("login", 1), ("login", 1), ("logout", 2), ("view", 3)]
    pair.source.create("events", columns, rows)
    pair.target.create("events", columns, rows[1:])
    mapping = TableMapping(source="events")
    for strategy in ("auto", *STRATEGIES):
        results = []
        for index in range(PARTS):
            source, target = _CountingDuckDb(pair.source.url), _CountingDuckDb(pair.target.url)
            with source, target:
                results.append(
                    reconcile_table(
                        source=source,
                        target=target,
                        mapping=mapping,
                        source_endpoint=Endpoint(url=pair.source.url),
                        target_endpoint=Endpoint(url=pair.target.url),
                        options=ReconcileOptions(strategy=strategy, partition=(index, PARTS)),
                    )
                )
            streamed = len(source.streamed) + len(target.streamed)
            assert streamed == (2 if index == 0 else 0), (strategy, index)
        assert [_counts(r) for r in results] == [(4, 3, 3, 1, 0, 0), (0,) * 6, (0,) * 6], strategy
