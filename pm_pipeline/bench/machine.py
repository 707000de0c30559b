"""The machine and software a benchmark ran on, as recorded next to its figures."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

import duckdb
import psycopg
import pymysql

from pm_pipeline.bench import peers
from pm_pipeline.bench.load import Server


def _meminfo_gb() -> float | None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return None
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _postgres_version(server: Server) -> str:
    try:
        with psycopg.connect(
            host=server.host,
            port=server.port,
            user=server.user,
            password=server.password or None,
            dbname="postgres",
        ) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error:
        return "unreachable"
    return str(row[0]) if row else "unknown"


def _mariadb_version(server: Server) -> str:
    try:
        conn = pymysql.connect(host=server.host, port=server.port, user=server.user, password=server.password)
    except pymysql.MySQLError:
        return "unreachable"
    try:
        return str(conn.get_server_info()).removeprefix("5.5.5-")  # MariaDB's replication-compat prefix
    finally:
        conn.close()


def describe(*, postgres: Server, mariadb: Server, venvs: Path) -> dict[str, str]:
    ram = _meminfo_gb()
    versions = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "ram": f"{ram} GiB" if ram is not None else "unknown",
        "cpu": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "load average at the end": " ".join(f"{value:.2f}" for value in os.getloadavg()),
        "python": platform.python_version(),
        "postgresql": _postgres_version(postgres),
        "mariadb": _mariadb_version(mariadb),
        "duckdb": duckdb.__version__,
    }
    for name, peer in peers.PEERS.items():
        if (venvs / name).exists():
            versions[name] = peers.installed_version(peer, venvs=venvs)
    return versions
