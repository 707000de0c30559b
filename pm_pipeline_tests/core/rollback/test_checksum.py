"""Rollback checksums agree with the integrity feature's definition, row by row and key by key, and react to any changed value."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pm_pipeline.core.canonical import canonicalize
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.integrity.checksum import table_checksum as integrity_checksum
from pm_pipeline.core.rollback.checksum import digest_batches, self_plan, table_checksum
from pm_pipeline_tests.core.digest.test_rows import plain_key_text, plain_row_text


def _sqlite(tmp_path: Path, *statements: str) -> str:
    import sqlite3

    path = tmp_path / "t.db"
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
    return f"sqlite:///{path}"


def test_same_checksum_as_integrity_feature(tmp_path: Path) -> None:
    url = _sqlite(
        tmp_path,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount NUMERIC(8,2), blob BLOB)",
        "INSERT INTO t VALUES (1, 'a', 1.50, x'00ff'), (2, NULL, NULL, NULL), (3, 'ü', -2, x'')",
    )
    with connect(url) as connector:
        mine = table_checksum(connector, "t")
        plan = self_plan(connector.introspect("t"))
        theirs = integrity_checksum(connector, table="t", plans=plan.all_plans, side="target")
    assert (mine.rows, mine.checksum) == (theirs.rows, theirs.checksum)


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE t SET name = 'b' WHERE id = 1",
        "UPDATE t SET score = 0.5000001 WHERE id = 1",  # floats count here, unlike in reconciliation
        "DELETE FROM t WHERE id = 2",
        "INSERT INTO t VALUES (2, NULL, NULL)",  # a duplicate row in a keyless table must show
    ],
)
def test_any_change_moves_the_checksum(tmp_path: Path, change: str) -> None:
    url = _sqlite(
        tmp_path,
        "CREATE TABLE t (id INTEGER, name TEXT, score REAL)",
        "INSERT INTO t VALUES (1, 'a', 0.5), (2, NULL, NULL)",
    )
    with connect(url) as connector:
        before = table_checksum(connector, "t")
    _sqlite(tmp_path, change)
    with connect(url) as connector:
        after: Any = table_checksum(connector, "t")
    assert after.checksum != before.checksum


def plain_digest(
    batches: list[pa.RecordBatch], schema: TableSchema
) -> tuple[int, str, dict[str, str], list[str]]:
    """Rows, checksum, key -> digest and keyless digests computed one row at a time with json.dumps."""
    plan = self_plan(schema)
    by_key: dict[str, str] = {}
    keyless: list[str] = []
    rows = 0
    for batch in batches:
        columns = [
            canonicalize(batch.column(p.name), plan=p, side="source", strict=True).to_pylist()
            for p in plan.all_plans
        ]
        for values in zip(*columns, strict=True):
            digest = hashlib.sha256(plain_row_text(list(values)).encode()).hexdigest()
            if plan.keys:
                by_key[plain_key_text(list(values[: len(plan.keys)]))] = digest
            else:
                keyless.append(digest)
            rows += 1
    total = sum(int(d, 16) for d in (by_key.values() if plan.keys else keyless))
    return rows, f"{total % 2**256:064x}", by_key, keyless


@pytest.mark.parametrize(
    "key",
    [
        # floats count in a snapshot: NaN and infinities are written as text, -0.0 keeps its sign
        "PRIMARY KEY (id)",
        # a text key is written ASCII-only (Zoë -> Zo\u00eb) while the row text keeps the character
        "PRIMARY KEY (name)",
        # a composite key with binary: hex inside the key
        "PRIMARY KEY (blob, id)",
        # keyless: every row counts, duplicates included
        "",
    ],
)
def test_digests_match_the_plain_definition(tmp_path: Path, key: str) -> None:
    import duckdb

    path = tmp_path / "t.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            f"CREATE TABLE t (id INTEGER, name VARCHAR, blob BLOB, score DOUBLE, note VARCHAR, {key})"
        )
        conn.execute(
            "INSERT INTO t SELECT g, ['Zoë', 'a\"b\\c', 'tab\t', '😀'][g % 4 + 1] || g, "
            "CASE WHEN g % 3 = 0 THEN ''::BLOB ELSE ('b' || g)::BLOB END, "
            "['nan', 'inf', '-inf', '-0.0', '1e16', '0.1', NULL][g % 7 + 1]::DOUBLE, "
            "CASE WHEN g % 5 = 0 THEN NULL ELSE 'line\n' || g END FROM range(1, 301) r(g)"
        )
        if not key:
            conn.execute("INSERT INTO t SELECT * FROM t WHERE id < 50")
    with connect(f"duckdb:///{path}") as connector:
        schema = connector.introspect("t")
        batches = list(connector.stream_table("t", schema=schema, batch_rows=64))
    # A key read twice with other values (a re-read snapshot): its last row is the one that counts.
    first = batches[0]
    changed = first.set_column(
        first.schema.get_field_index("score"), "score", pa.array([1.5] * first.num_rows)
    )
    for streamed in (batches, [*batches, changed]):
        mine = digest_batches(streamed, schema, keep_keys=True)
        rows, checksum, by_key, keyless = plain_digest(streamed, schema)
        assert (mine.rows, mine.checksum, mine.keyless) == (rows, checksum, keyless)
        assert list(mine.by_key.items()) == list(by_key.items())


def _every_row_sum(batches: list[pa.RecordBatch], schema: TableSchema) -> str:
    """The checksum with every row counted once per read, computed one row at a time."""
    plan = self_plan(schema)
    total = 0
    for batch in batches:
        columns = [
            canonicalize(batch.column(p.name), plan=p, side="source", strict=True).to_pylist()
            for p in plan.all_plans
        ]
        for values in zip(*columns, strict=True):
            total += int(hashlib.sha256(plain_row_text(list(values)).encode()).hexdigest(), 16)
    return f"{total % 2**256:064x}"


@pytest.mark.parametrize("key", ["PRIMARY KEY (id)", ""])
def test_without_keep_keys_no_row_digest_is_kept_and_every_row_counts(tmp_path: Path, key: str) -> None:
    import duckdb

    path = tmp_path / "t.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute(f"CREATE TABLE t (id INTEGER, name VARCHAR, score DOUBLE, {key})")
        conn.execute("INSERT INTO t SELECT g, 'n' || g, g / 7 FROM range(1, 501) r(g)")
    with connect(f"duckdb:///{path}") as connector:
        schema = connector.introspect("t")
        batches = list(connector.stream_table("t", schema=schema, batch_rows=64))
    kept = digest_batches(batches, schema, keep_keys=True)
    bounded = digest_batches(batches, schema)
    assert (bounded.by_key, bounded.keyless) == ({}, [])
    assert len(kept.by_key) + len(kept.keyless) == 500
    assert (
        (bounded.rows, bounded.checksum)
        == (kept.rows, kept.checksum)
        == (500, plain_digest(batches, schema)[1])
    )
    # A batch read twice (a damaged file): without the keys, its rows count twice, as in the integrity checksum.
    twice = [*batches, batches[0]]
    repeated = digest_batches(twice, schema)
    assert repeated.rows == 500 + batches[0].num_rows
    assert repeated.checksum == _every_row_sum(twice, schema) != bounded.checksum
