"""The performance workload on a large table: wall time, CPU, peak RSS and rows fetched.

    python -m pm_pipeline_bench.perf_scale [--rows 10000000]

Builds two PostgreSQL databases holding ``customers`` with ``--rows`` rows, the source with a
unique index on ``email`` and the target without it, runs a three-query workload (the lookup by
e-mail, a primary-key lookup and a GROUP BY over the whole table; repetitions auto, HypoPG allowed),
prints the figures and drops the databases.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Sequence

from pm_pipeline.core.config.performance import PerformanceSettings
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.perf import run_workload
from pm_pipeline_bench.perf_alarms import _postgres

WORKLOAD = {
    "allow_hypopg": True,
    "workload": [
        {
            "name": "login_by_email",
            "sql": "SELECT id FROM customers WHERE email = :email",
            "sample": {"sql": "SELECT email FROM customers ORDER BY id DESC", "size": 3},
        },
        {"name": "by_id", "sql": "SELECT * FROM customers WHERE id = :id", "params": {"id": 4242}},
        {"name": "cities", "sql": "SELECT city, count(*) FROM customers GROUP BY city"},
    ],
}


def _table(rows: int) -> tuple[str, ...]:
    return (
        "CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, city text NOT NULL)",
        "INSERT INTO customers SELECT i, 'user' || i || '@example.com', 'city ' || (i % 40) "
        f"FROM generate_series(1, {rows}) i",
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pm_pipeline_bench.perf_scale")
    parser.add_argument("--rows", type=int, default=10_000_000)
    rows = parser.parse_args(argv).rows
    unique = ("ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email)",)
    settings = PerformanceSettings.model_validate(WORKLOAD)
    with (
        _postgres(_table(rows) + unique) as source_url,
        _postgres(_table(rows)) as target_url,
        connect(source_url) as source,
        connect(target_url) as target,
    ):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        started = time.perf_counter()
        result = run_workload(settings, source=source, target=target)
        wall = time.perf_counter() - started
    print(
        f"{rows:,} rows: workload {wall:.1f} s, pm-pipeline CPU {result.cpu_seconds:.2f} s, peak RSS "
        f"{before / 2**20:.0f} MiB before, {result.peak_rss_bytes / 2**20:.0f} MiB after"
    )
    for query in result.queries:
        src, tgt = query.source, query.target
        medians = (
            "" if src is None or tgt is None else f", p50 {src.p50 * 1000:.2f} / {tgt.p50 * 1000:.2f} ms"
        )
        print(f"  {query.name}: rows fetched {query.rows_fetched[0]:,} / {query.rows_fetched[1]:,}{medians}")
    for finding in result.findings:
        print(f"  {finding.severity} {finding.category}: {finding.message}")


if __name__ == "__main__":
    main()
