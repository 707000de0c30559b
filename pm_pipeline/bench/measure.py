"""Run one tool as its own process and measure its wall time and peak resident memory.

Peak RSS comes from the kernel's accounting of the waited-for process tree (``ru_maxrss``): GNU
``/usr/bin/time -v`` when present, else this module run as a wrapper process
(``python -m pm_pipeline.bench.measure OUT -- COMMAND...``). It is the largest resident set of
the tool process or any of its descendants; the database servers' own memory is not counted.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

GNU_TIME = Path("/usr/bin/time")
_MAX_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


@dataclass(frozen=True)
class Measured:
    wall_s: float
    peak_rss_mb: float
    exit_code: int
    stdout: str
    stderr: str


def _has_gnu_time() -> bool:
    if not GNU_TIME.exists():
        return False
    probe = subprocess.run([str(GNU_TIME), "-v", "true"], capture_output=True, text=True, check=False)
    return probe.returncode == 0 and _MAX_RSS.search(probe.stderr) is not None


def run_measured(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
    use_gnu_time: bool | None = None,
) -> Measured:
    """Run ``command``; the wall time is taken around the whole process, start-up included."""
    gnu = _has_gnu_time() if use_gnu_time is None else use_gnu_time
    with tempfile.TemporaryDirectory(prefix="pm-bench-") as scratch:
        report = Path(scratch) / "rusage"
        if gnu:
            wrapped = [str(GNU_TIME), "-v", "-o", str(report), *command]
        else:
            wrapped = [sys.executable, "-m", "pm_pipeline.bench.measure", str(report), "--", *command]
        started = time.perf_counter()
        done = subprocess.run(
            wrapped,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **(env or {})},
            timeout=timeout_s,
        )
        wall = time.perf_counter() - started
        text = report.read_text() if report.exists() else ""
    if gnu:
        match = _MAX_RSS.search(text)
        kilobytes = int(match.group(1)) if match else 0
    else:
        kilobytes = int(json.loads(text)["max_rss_kb"]) if text else 0
    return Measured(
        wall_s=wall,
        peak_rss_mb=kilobytes / 1024,
        exit_code=done.returncode,
        stdout=done.stdout,
        stderr=done.stderr,
    )


def _wrapper(argv: Sequence[str]) -> int:
    """Run the command after ``--`` and write its children's peak RSS (kB on Linux) to argv[0]."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m pm_pipeline.bench.measure OUT -- COMMAND...", file=sys.stderr)
        return 2
    code = subprocess.run(list(argv[2:]), check=False).returncode
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    Path(argv[0]).write_text(json.dumps({"max_rss_kb": peak}))
    return code


if __name__ == "__main__":
    raise SystemExit(_wrapper(sys.argv[1:]))
