"""The batch-built row text, digests and sums equal the plain per-row ``json.dumps`` definition byte for byte."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pm_pipeline.core.canonical import canonicalize
from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.digest import rows as row_module
from pm_pipeline.core.digest.rows import digest_sum, json_arrays, row_digest_sum, row_digests, sha256_each
from pm_pipeline.core.integrity.checksum import checksummed, table_checksum
from pm_pipeline.core.reconcile.planning import plan_table


def plain_row_text(values: list[Any]) -> str:
    """pm-row-json-1 as docs/readme/integrity.md defines it, one row at a time."""
    ready = [
        str(v) if isinstance(v, float) and not math.isfinite(v) else v.hex() if isinstance(v, bytes) else v
        for v in values
    ]
    return json.dumps(ready, ensure_ascii=False, separators=(",", ":"))


def plain_key_text(values: list[Any]) -> str:
    """A rollback snapshot's key: json.dumps with its defaults, binary as hex."""
    return json.dumps(values, separators=(",", ":"), default=lambda v: v.hex())


def plain_checksum(rows: list[list[Any]]) -> str:
    total = sum(int.from_bytes(hashlib.sha256(plain_row_text(r).encode()).digest(), "big") for r in rows)
    return f"{total % 2**256:064x}"


def assert_same_as_plain(columns: list[pa.Array], num_rows: int) -> None:
    rows = [list(values) for values in zip(*(c.to_pylist() for c in columns), strict=True)] or [
        [] for _ in range(num_rows)
    ]
    assert json_arrays(columns, num_rows=num_rows).to_pylist() == [plain_row_text(r) for r in rows]
    assert json_arrays(columns, num_rows=num_rows, key=True).to_pylist() == [plain_key_text(r) for r in rows]
    digests = row_digests(columns, num_rows=num_rows)
    assert digests == [hashlib.sha256(plain_row_text(r).encode()).digest() for r in rows]
    assert f"{digest_sum(digests):064x}" == plain_checksum(rows)
    assert f"{row_digest_sum(columns, num_rows=num_rows):064x}" == plain_checksum(rows)


# Values drawn with NULLs in every column; texts include control characters, quotes, backslashes,
# DEL, line separators and astral characters (escaped differently in row text and in keys).
TYPED_VALUES: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "int64": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "float64": (pa.float64(), st.floats()),  # NaN, infinities, -0.0, subnormals, 1e16
    "string": (pa.string(), st.text(st.characters(codec="utf-8"))),
    "large_string": (pa.large_string(), st.text(st.characters(codec="utf-8"))),
    "binary": (pa.binary(), st.binary()),
    "large_binary": (pa.large_binary(), st.binary()),
}


@st.composite
def canonical_batches(draw: st.DrawFn) -> tuple[list[pa.Array], int]:
    rows = draw(st.integers(0, 12))
    columns = []
    for kind in draw(st.lists(st.sampled_from(sorted(TYPED_VALUES)), max_size=5)):
        arrow_type, values = TYPED_VALUES[kind]
        # Leading and trailing values make a sliced array, as a batch column often is.
        before, after = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        cells = draw(
            st.lists(st.none() | values, min_size=before + rows + after, max_size=before + rows + after)
        )
        columns.append(pa.array(cells, arrow_type).slice(before, rows))
    return columns, rows


@settings(max_examples=300, deadline=None)
@given(canonical_batches())
def test_random_canonical_columns_match_the_plain_definition(batch: tuple[list[pa.Array], int]) -> None:
    columns, rows = batch
    assert_same_as_plain(columns, rows)


@pytest.mark.parametrize(
    ("arrow_type", "values"),
    [
        # the text 'null' must stay a JSON string, distinct from NULL
        (pa.string(), ["null", None, "", "plain"]),
        # JSON documents and Windows paths: quotes and backslashes escaped, nothing else
        (pa.string(), ['{"a":"b\\\\c"}', 'say "hi"', "C:\\temp\\", '"', "\\"]),
        # control characters: json's short escapes and \u00XX, lower-case hex
        (pa.string(), ["a\nb", "\t\r\b\f", "\x00", "\x1f", "x\x01\x02y", None]),
        # DEL and U+2028 pass through in row text; a key (ASCII only) escapes them and every non-ASCII one
        (pa.string(), ["\x7f", "\u2028", "Zoë", "日本", "😀", 'é\n"\\😀']),
        # int64 extremes: -2**63 is the zero-date instant
        (pa.int64(), [-(2**63), 2**63 - 1, 0, -1, None]),
        # float repr: exponents from 1e16 and below 1e-4, NaN/inf as text, signed zero
        (pa.float64(), [1e16, 1e-5, 0.1, -0.0, 5e-324, 1.7976931348623157e308, 123456789.0, None]),
        (pa.float64(), [math.nan, math.inf, -math.inf, 2.5]),
        # binary as lower-case hex, an empty value as an empty string
        (pa.binary(), [b"\x00\xff\x10", b"", None, bytes(range(256))]),
    ],
)
def test_edge_values_match_the_plain_definition(arrow_type: pa.DataType, values: list[Any]) -> None:
    column = pa.array(values, arrow_type)
    assert_same_as_plain([column], len(values))
    assert_same_as_plain([column, pa.array(range(len(values)), pa.int64()), column], len(values))


def test_no_columns_and_no_rows() -> None:
    assert json_arrays([], num_rows=2).to_pylist() == ["[]", "[]"]
    assert_same_as_plain([], 3)
    assert_same_as_plain([pa.array([], pa.string()), pa.array([], pa.binary())], 0)
    assert digest_sum([]) == 0


def test_digest_sum_wraps_modulo_2_256() -> None:
    top, two = b"\xff" * 32, bytes(31) + b"\x02"
    assert digest_sum([top, two]) == 1
    assert digest_sum([top] * 5) == (5 * (2**256 - 1)) % 2**256


def test_batches_hashed_on_two_threads_keep_every_row_and_register_nothing() -> None:
    # Both threads hash in the one context, each batch under a name of its own, dropped once hashed.
    texts = pa.array(
        [None if i % 11 == 0 else f"row {i} é😀" * (i % 7) for i in range(30_000)], pa.large_string()
    )
    texts = pc.fill_null(texts, "")
    expected = [hashlib.sha256(text.encode()).digest() for text in texts.to_pylist()]

    def hash_in_slices() -> list[bytes]:
        digests = [sha256_each(texts.slice(start, 7_000)).to_pylist() for start in range(0, 30_000, 7_000)]
        return [d for part in digests for d in part]

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [pool.submit(hash_in_slices) for _ in range(4)]
        assert all(result.result() == expected for result in results)
    assert not row_module._hasher().catalog().schema().names()


def _random_source(path: Path, rows: int, seed: int) -> None:
    """A DuckDB table of random typed values with NULLs: what canonicalisation turns into int64/text/binary."""
    rng = random.Random(seed)
    pool = [
        "Zoë",
        'quote"d',
        "back\\slash",
        "line\nbreak",
        "tab\t",
        "😀",
        "日本語",
        "",
        "null",
        "\x7f",
        "\x01",
    ]

    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.15 else value

    start = dt.datetime(1969, 12, 31, 23, 59, 59)
    data = {
        "id": list(range(rows)),
        "amount": [
            maybe(Decimal(rng.randint(-(10**12), 10**12)).scaleb(-rng.randint(0, 6))) for _ in range(rows)
        ],
        "created": [maybe(start + dt.timedelta(microseconds=rng.randint(0, 10**15))) for _ in range(rows)],
        "stamped": [
            maybe((start + dt.timedelta(seconds=rng.randint(-(10**9), 10**9))).replace(tzinfo=dt.UTC))
            for _ in range(rows)
        ],
        "day": [maybe(dt.date(1, 1, 1) + dt.timedelta(days=rng.randint(0, 3_000_000))) for _ in range(rows)],
        "flag": [maybe(rng.random() < 0.5) for _ in range(rows)],
        "name": [maybe("".join(rng.choices(pool, k=rng.randint(0, 4)))) for _ in range(rows)],
        "payload": [maybe(rng.randbytes(rng.randint(0, 9))) for _ in range(rows)],
        "ref": [maybe(str(uuid.UUID(int=rng.getrandbits(128)))) for _ in range(rows)],
        "doc": [
            maybe(json.dumps({"b": rng.choice(pool), "a": [rng.randint(0, 9), None]})) for _ in range(rows)
        ],
    }
    source = pa.table(  # noqa: F841 - read by DuckDB's replacement scan below
        {
            **data,
            "amount": pa.array(data["amount"], pa.decimal128(24, 6)),
            "created": pa.array(data["created"], pa.timestamp("us")),
            "stamped": pa.array(data["stamped"], pa.timestamp("us", tz="UTC")),
        }
    )
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "CREATE TABLE t (id BIGINT PRIMARY KEY, amount DECIMAL(24, 6), created TIMESTAMP, "
            "stamped TIMESTAMPTZ, day DATE, flag BOOLEAN, name VARCHAR, payload BLOB, ref UUID, doc JSON)"
        )
        conn.execute("INSERT INTO t SELECT * FROM source")


@pytest.mark.parametrize("seed", [1, 2])
def test_random_table_checksum_matches_the_plain_definition(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "source.duckdb"
    _random_source(path, rows=1500, seed=seed)
    with connect(f"duckdb:///{path}") as connector:
        schema = connector.introspect("t")
        plan = plan_table(mapping=TableMapping(source="t"), source=schema, target=schema)
        kept, left = checksummed(plan.all_plans)
        computed = table_checksum(connector, table="t", plans=kept, side="source", batch_rows=400)
        rows: list[list[Any]] = []
        reading = TableSchema(name="t", columns=tuple(p.source for p in kept))
        for batch in connector.stream_table("t", schema=reading, batch_rows=400):
            canonical = [
                canonicalize(batch.column(i), plan=p, side="source", strict=True) for i, p in enumerate(kept)
            ]
            assert_same_as_plain(canonical, batch.num_rows)
            rows.extend(list(values) for values in zip(*(c.to_pylist() for c in canonical), strict=True))
    assert left == [] and len(kept) == 10
    assert (computed.rows, computed.checksum) == (1500, plain_checksum(rows))
