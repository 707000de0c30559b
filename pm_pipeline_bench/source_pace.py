"""What protecting the source costs: the pace a paced stream keeps, and opening the source with
its reader slot against a plain connection.

``python -m pm_pipeline_bench.source_pace POSTGRESQL_URL [ROWS] [RATE]`` creates the table
``pm_bench_pace`` (ROWS rows, 200,000 by default) in that scratch database, streams it whole
unpaced and at RATE rows a second (100,000 by default), times 20 opens of each kind, drops the
table and prints one JSON document.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from pm_pipeline.core.config.spec import MigrationSpec
from pm_pipeline.core.connectors import Connector, connect, open_endpoint

TABLE = "pm_bench_pace"


def _stream_seconds(open_source: Callable[[], Connector]) -> tuple[float, int]:
    started = time.perf_counter()
    with open_source() as source:
        rows = sum(batch.num_rows for batch in source.stream_query(f"SELECT id, note FROM {TABLE}"))
    return time.perf_counter() - started, rows


def _open_ms(open_source: Callable[[], Connector], times: int = 20) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        with open_source():
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure(url: str, *, rows: int, rate: float) -> dict[str, Any]:
    def spec(**limits: Any) -> MigrationSpec:
        return MigrationSpec.model_validate(
            {"source": {"url": url, **limits}, "target": {"url": url}, "discover": True}
        )

    plain, paced = spec(), spec(max_rows_per_second=rate)
    with connect(url) as setup, setup.transaction() as tx:
        tx.execute(f"DROP TABLE IF EXISTS {TABLE}")
        tx.execute(
            f"CREATE TABLE {TABLE} AS SELECT k AS id, md5(k::text) AS note FROM generate_series(1, {rows}) k"
        )
    try:
        unpaced_s, _ = _stream_seconds(lambda: open_endpoint(plain.source))
        paced_s, counted = _stream_seconds(lambda: open_endpoint(paced.source))
        return {
            "rows": counted,
            "rate_asked": rate,
            "unpaced_seconds": round(unpaced_s, 3),
            "paced_seconds": round(paced_s, 3),
            "paced_rows_per_second": round(counted / paced_s),
            "open_plain_ms": round(_open_ms(lambda: connect(url)), 2),
            "open_as_source_ms": round(_open_ms(lambda: open_endpoint(plain.source)), 2),
        }
    finally:
        with connect(url) as cleanup, cleanup.transaction() as tx:
            tx.execute(f"DROP TABLE IF EXISTS {TABLE}")


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 3:
        print(__doc__, file=sys.stderr)
        return 2
    rows = int(argv[1]) if len(argv) > 1 else 200_000
    rate = float(argv[2]) if len(argv) > 2 else 100_000.0
    print(json.dumps(measure(argv[0], rows=rows, rate=rate), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
