"""The two reference points every tool is compared with, each run as its own measured process.

floor: one native whole-row hashing scan of each side, both sides at once; nothing can reconcile
    without reading every row once, so this is the least any tool can take.
pull: both sides read whole as Arrow with the fastest whole-table reader measured for each engine
    (connectorx for servers, its decoding threads running ahead of the socket; DuckDB for DuckDB
    files), at once, then a full outer join on id in DuckDB with a relative float tolerance (the
    bench passes pm-pipeline's default); exact, fast, memory-hungry.

``python -m pm_pipeline_bench.baselines floor SOURCE_ENGINE SOURCE_URL TARGET_ENGINE TARGET_URL OUT``
``python -m pm_pipeline_bench.baselines pull SOURCE_ENGINE SOURCE_URL TARGET_ENGINE TARGET_URL OUT REL_TOLERANCE``
write JSON to OUT: per-side seconds for floor, key lists for pull. The tolerance is an argument
so that these measured processes do not import pm-pipeline's configuration layer to read it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pm_pipeline.core.connectors import connect
from pm_pipeline_bench.generate import COLUMNS, TABLE

# The cheapest whole-row hash each engine offers natively (measured: hashtext beats
# hashtextextended and md5 on PostgreSQL; CRC32 beats MD5 on MariaDB).
_MY_ROW = ", ".join(f"COALESCE({name}, '\\0')" if name == "note" else name for name in COLUMNS)
FLOOR_SQL = {
    "postgresql": f"SELECT sum(hashtext(t::text)) FROM {TABLE} t",
    "mysql": f"SELECT BIT_XOR(CRC32(CONCAT_WS('|', {_MY_ROW}))) FROM {TABLE}",
    "duckdb": f"SELECT bit_xor(hash({', '.join(COLUMNS)})) FROM {TABLE}",
}


def _scalar(url: str, query: str) -> Any:
    with connect(url) as connector:
        rows = connector.execute(query)
    return rows[0][0] if rows else None


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = call()
    return time.perf_counter() - started, value


def floor(source: tuple[str, str], target: tuple[str, str]) -> dict[str, Any]:
    def scan(side: tuple[str, str]) -> tuple[float, Any]:
        engine, url = side
        return _timed(lambda: _scalar(url, FLOOR_SQL[engine]))

    with ThreadPoolExecutor(max_workers=2) as pool:
        (source_s, source_hash), (target_s, target_hash) = pool.map(scan, (source, target))
    return {
        "source_s": source_s,
        "target_s": target_s,
        "source_hash": str(source_hash),
        "target_hash": str(target_hash),
    }


def _read(engine: str, url: str) -> pa.Table:
    if engine == "postgresql":
        # pm-pipeline's PostgreSQL connector streams through ADBC, which decodes in the reading
        # thread: cheaper in CPU, but slower here for one whole-table read than connectorx, which
        # decodes numeric exactly (decimal128) in threads of its own.
        import connectorx as cx

        reader = cx.read_sql(
            url,  # the bench's own database URL, no pm-pipeline query parameters
            f"SELECT * FROM {TABLE}",
            return_type="arrow_stream",
            batch_size=100_000,
            pre_execution_query=["SET TimeZone = 'UTC'"],
        )
        return pa.Table.from_batches(list(reader), schema=reader.schema)
    with connect(url) as connector:
        return connector.query_arrow(f"SELECT * FROM {TABLE}")


def _differs(name: str, rel_tolerance: float) -> str:
    s, t = f"s.{name}", f"t.{name}"
    if name == "unit_price":
        return (
            f"(({s} IS NULL) <> ({t} IS NULL) OR abs({s} - {t}) > "
            f"{rel_tolerance!r} * greatest(abs({s}), abs({t})))"
        )
    if name == "is_paid":  # MariaDB BOOLEAN arrives as int8
        return f"({s})::BOOLEAN IS DISTINCT FROM ({t})::BOOLEAN"
    return f"{s} IS DISTINCT FROM {t}"


def pull_join_sql(rel_tolerance: float) -> str:
    """Every id whose row is missing, extra or differs in a column (floats beyond ``rel_tolerance``)."""
    differs = " OR ".join(_differs(name, rel_tolerance) for name in COLUMNS if name != "id")
    return f"""
        SELECT coalesce(s.id, t.id) AS id,
               CASE WHEN t.id IS NULL THEN 'missing' WHEN s.id IS NULL THEN 'extra' ELSE 'changed' END AS kind
        FROM source_rows s FULL OUTER JOIN target_rows t ON s.id = t.id
        WHERE s.id IS NULL OR t.id IS NULL OR {differs}
        ORDER BY 1
    """


def pull(source: tuple[str, str], target: tuple[str, str], *, rel_tolerance: float) -> dict[str, Any]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        source_rows, target_rows = pool.map(lambda side: _read(*side), (source, target))
    read_s = time.perf_counter() - started
    connection = duckdb.connect()
    try:
        connection.register("source_rows", source_rows)
        connection.register("target_rows", target_rows)
        differences = connection.execute(pull_join_sql(rel_tolerance)).fetchall()
    finally:
        connection.close()
    keys: dict[str, list[int]] = {"missing": [], "extra": [], "changed": []}
    for id_, kind in differences:
        keys[kind].append(int(id_))
    return {**keys, "read_s": read_s, "join_s": time.perf_counter() - started - read_s}


def main(argv: Sequence[str]) -> int:
    if not ((len(argv) == 6 and argv[0] == "floor") or (len(argv) == 7 and argv[0] == "pull")):
        print(__doc__, file=sys.stderr)
        return 2
    mode, source_engine, source_url, target_engine, target_url, out, *tolerance = argv
    sides = (source_engine, source_url), (target_engine, target_url)
    result = floor(*sides) if mode == "floor" else pull(*sides, rel_tolerance=float(tolerance[0]))
    Path(out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
