"""The two reference points every tool is compared with, each run as its own measured process.

floor: one native whole-row hashing scan of each side, both sides at once; nothing can reconcile
    without reading every row once, so this is the least any tool can take.
pull: both sides read whole as Arrow (connectorx for servers, DuckDB for DuckDB files), at once,
    then a full outer join on id in DuckDB with the float tolerance; exact, fast, memory-hungry.

``python -m pm_pipeline.bench.baselines {floor|pull} SOURCE_ENGINE SOURCE_URL TARGET_ENGINE TARGET_URL OUT``
writes JSON to OUT: per-side seconds for floor, key lists for pull.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import duckdb

from pm_pipeline.bench.generate import COLUMNS, TABLE

if TYPE_CHECKING:
    import pyarrow as pa

REL_TOLERANCE = 1e-9  # pm-pipeline's default for floats
# The cheapest whole-row hash each engine offers natively (measured: hashtext beats
# hashtextextended and md5 on PostgreSQL; CRC32 beats MD5 on MariaDB).
_MY_ROW = ", ".join(f"COALESCE({name}, '\\0')" if name == "note" else name for name in COLUMNS)
FLOOR_SQL = {
    "postgresql": f"SELECT sum(hashtext(t::text)) FROM {TABLE} t",
    "mysql": f"SELECT BIT_XOR(CRC32(CONCAT_WS('|', {_MY_ROW}))) FROM {TABLE}",
    "duckdb": f"SELECT bit_xor(hash({', '.join(COLUMNS)})) FROM {TABLE}",
}


def _duckdb_path(url: str) -> str:
    return url.removeprefix("duckdb:///")


def _scalar(engine: str, url: str, query: str) -> Any:
    if engine == "postgresql":
        import psycopg

        with psycopg.connect(url) as conn:
            row = conn.execute(query.encode()).fetchone()
    elif engine == "mysql":
        import pymysql

        parts = urlsplit(url)
        conn = pymysql.connect(
            host=parts.hostname,
            port=parts.port or 3306,
            user=parts.username or "",
            password=parts.password or "",
            database=parts.path.lstrip("/"),
        )
        try:
            with conn.cursor() as cur:
                cur.execute(query)
                row = cur.fetchone()
        finally:
            conn.close()
    else:
        connection = duckdb.connect(_duckdb_path(url), read_only=True)
        try:
            connection.execute("SET enable_progress_bar = false")
            row = connection.execute(query).fetchone()
        finally:
            connection.close()
    return None if row is None else row[0]


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = call()
    return time.perf_counter() - started, value


def floor(source: tuple[str, str], target: tuple[str, str]) -> dict[str, Any]:
    def scan(side: tuple[str, str]) -> tuple[float, Any]:
        engine, url = side
        return _timed(lambda: _scalar(engine, url, FLOOR_SQL[engine]))

    with ThreadPoolExecutor(max_workers=2) as pool:
        (source_s, source_hash), (target_s, target_hash) = pool.map(scan, (source, target))
    return {
        "source_s": source_s,
        "target_s": target_s,
        "source_hash": str(source_hash),
        "target_hash": str(target_hash),
    }


def _read(engine: str, url: str) -> pa.Table:
    query = f"SELECT * FROM {TABLE}"
    if engine == "duckdb":
        connection = duckdb.connect(_duckdb_path(url), read_only=True)
        try:
            connection.execute("SET enable_progress_bar = false")
            return connection.sql(query).to_arrow_table()
        finally:
            connection.close()
    import connectorx

    table: pa.Table = connectorx.read_sql(url, query, return_type="arrow")
    return table


def _differs(name: str) -> str:
    s, t = f"s.{name}", f"t.{name}"
    if name == "unit_price":
        return (
            f"(({s} IS NULL) <> ({t} IS NULL) OR abs({s} - {t}) > "
            f"{REL_TOLERANCE} * greatest(abs({s}), abs({t})))"
        )
    if name == "is_paid":  # MariaDB BOOLEAN arrives as int8
        return f"({s})::BOOLEAN IS DISTINCT FROM ({t})::BOOLEAN"
    return f"{s} IS DISTINCT FROM {t}"


PULL_JOIN_SQL = f"""
    SELECT coalesce(s.id, t.id) AS id,
           CASE WHEN t.id IS NULL THEN 'missing' WHEN s.id IS NULL THEN 'extra' ELSE 'changed' END AS kind
    FROM source_rows s FULL OUTER JOIN target_rows t ON s.id = t.id
    WHERE s.id IS NULL OR t.id IS NULL OR {" OR ".join(_differs(name) for name in COLUMNS if name != "id")}
"""


def pull(source: tuple[str, str], target: tuple[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        source_rows, target_rows = pool.map(lambda side: _read(*side), (source, target))
    read_s = time.perf_counter() - started
    connection = duckdb.connect()
    try:
        connection.register("source_rows", source_rows)
        connection.register("target_rows", target_rows)
        differences = connection.execute(PULL_JOIN_SQL).fetchall()
    finally:
        connection.close()
    keys: dict[str, list[int]] = {"missing": [], "extra": [], "changed": []}
    for id_, kind in differences:
        keys[kind].append(int(id_))
    return {**keys, "read_s": read_s, "join_s": time.perf_counter() - started - read_s}


def main(argv: Sequence[str]) -> int:
    if len(argv) != 6 or argv[0] not in ("floor", "pull"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, source_engine, source_url, target_engine, target_url, out = argv
    work = floor if mode == "floor" else pull
    result = work((source_engine, source_url), (target_engine, target_url))
    Path(out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
