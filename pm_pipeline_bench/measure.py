"""Run one tool as its own process and measure its wall time and peak resident memory.

Peak RSS comes from the kernel's accounting of the waited-for process tree (``ru_maxrss``): GNU
``/usr/bin/time -v`` when present, else this module run as a wrapper process
(``python -m pm_pipeline_bench.measure OUT -- COMMAND...``). It is the largest resident set of
the tool process or any of its descendants; the database servers' own memory is not counted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

GNU_TIME = Path("/usr/bin/time")
_MAX_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


class ToolFailed(Exception):
    """A tool run ended without an answer (crash, error exit, error logged, timeout)."""


@dataclass(frozen=True)
class Measured:
    wall_s: float
    peak_rss_mb: float
    exit_code: int
    stdout: str
    stderr: str


@functools.cache
def _has_gnu_time() -> bool:
    """Whether GNU time is there and reports peak RSS (probed once per process)."""
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
    """Run ``command``; the wall time is taken around the whole process, start-up included.

    The process runs in a session of its own: on ``timeout_s`` the whole process group (the
    measuring wrapper, the tool and any process it started) is killed and ToolFailed raised.
    """
    gnu = _has_gnu_time() if use_gnu_time is None else use_gnu_time
    with tempfile.TemporaryDirectory(prefix="pm-bench-") as scratch:
        report = Path(scratch) / "rusage"
        if gnu:
            wrapped = [str(GNU_TIME), "-v", "-o", str(report), *command]
        else:
            wrapped = [sys.executable, "-m", "pm_pipeline_bench.measure", str(report), "--", *command]
        started = time.perf_counter()
        process = subprocess.Popen(
            wrapped,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_importable({**os.environ, **(env or {})}),
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise ToolFailed(f"timed out after {timeout_s:g} s") from None
        except BaseException:
            _kill_group(process)
            raise
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
        exit_code=process.returncode,
        stdout=stdout,
        stderr=stderr,
    )


def _importable(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the checkout on the module path: the harness is not installed with the product,
    and a tool it runs may be started from any folder."""
    home = str(Path(__file__).resolve().parents[1])
    path = env.get("PYTHONPATH")
    return {**env, "PYTHONPATH": home if not path else os.pathsep.join([home, path])}


def _kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL the process group led by ``process`` and reap ``process``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def _wrapper(argv: Sequence[str]) -> int:
    """Run the command after ``--`` and write its children's peak RSS (kB on Linux) to argv[0]."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m pm_pipeline_bench.measure OUT -- COMMAND...", file=sys.stderr)
        return 2
    code = subprocess.run(list(argv[2:]), check=False).returncode
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    Path(argv[0]).write_text(json.dumps({"max_rss_kb": peak}))
    return code


if __name__ == "__main__":
    raise SystemExit(_wrapper(sys.argv[1:]))
