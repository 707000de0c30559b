"""The machine and software a benchmark ran on, as recorded next to its figures."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

import duckdb

from pm_pipeline.core.connectors import connect
from pm_pipeline.core.errors import PmError
from pm_pipeline_bench import peers
from pm_pipeline_bench.load import Server


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


def _server_version(server: Server, database: str) -> str:
    """What the server's connector reports (e.g. 'PostgreSQL 15.20', 'MariaDB 10.11.19')."""
    try:
        with connect(server.url(database)) as connector:
            return connector.server_version()
    except PmError:
        return "unreachable"


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
        "postgresql": _server_version(postgres, "postgres"),
        "mariadb": _server_version(mariadb, "information_schema"),
        "duckdb": duckdb.__version__,
    }
    for name, peer in peers.PEERS.items():
        if (venvs / name).exists():
            versions[name] = peers.installed_version(peer, venvs=venvs)
    return versions
