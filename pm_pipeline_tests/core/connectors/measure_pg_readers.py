"""Measure PostgreSQL Arrow readers on one table (not a test).

    .venv/bin/python -m pm_pipeline_tests.core.connectors.measure_pg_readers URL TABLE [--repeat 2]

Reads every column of TABLE as the connector selects it for a reconciliation (``numeric::text``
and the other text renderings), once per candidate and repeat, each in a process of its own:
connectorx ``arrow_stream`` (decoding in threads of its own), ADBC ``fetch_record_batch`` (decoding
in the reading thread) and the connector's own ``stream_query`` (ADBC, two batches read ahead).
Prints a Markdown table of wall-clock seconds, the reading process's CPU seconds, the whole
machine's busy CPU seconds (the server's share included) and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

CANDIDATES = ("connectorx", "adbc", "connector")


def _machine_busy() -> float:
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return (int(fields[1]) + int(fields[2]) + int(fields[3])) / os.sysconf("SC_CLK_TCK")


def _read(candidate: str, url: str, table: str) -> dict[str, float]:
    from pm_pipeline.core.connectors import connect

    with connect(url) as connector:
        schema = connector.introspect(table)
        columns = ", ".join(connector.select_expression(column) for column in schema.columns)
        sql = f"SELECT {columns} FROM {connector.qualified(table)}"
        started, cpu, busy = time.perf_counter(), time.process_time(), _machine_busy()
        rows = 0
        if candidate == "connectorx":
            import connectorx as cx

            for batch in cx.read_sql(url.split("?")[0], sql, return_type="arrow_stream", batch_size=100_000):
                rows += batch.num_rows
        elif candidate == "adbc":
            import adbc_driver_postgresql.dbapi as adbc

            with (
                adbc.connect(url.split("?")[0], autocommit=True) as connection,
                connection.cursor() as cursor,
            ):
                cursor.execute(sql)
                for batch in cursor.fetch_record_batch():
                    rows += batch.num_rows
        else:
            for batch in connector.stream_query(sql):
                rows += batch.num_rows
        return {
            "rows": rows,
            "wall_s": time.perf_counter() - started,
            "cpu_s": time.process_time() - cpu,
            "machine_cpu_s": _machine_busy() - busy,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("table")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--one", choices=CANDIDATES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_read(args.one, args.url, args.table)))
        return
    print("| reader | rows | wall s | process CPU s | machine CPU s | peak MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for _ in range(args.repeat):
        for candidate in CANDIDATES:
            command = [sys.executable, "-m", __spec__.name, args.url, args.table, "--one", candidate]
            result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            print(
                f"| {candidate} | {result['rows']:,} | {result['wall_s']:.2f} | {result['cpu_s']:.2f} "
                f"| {result['machine_cpu_s']:.2f} | {result['peak_mb']:.0f} |"
            )


if __name__ == "__main__":
    main()
