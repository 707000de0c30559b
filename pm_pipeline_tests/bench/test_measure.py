"""Peak memory of a measured process, through GNU time and through the fallback wrapper process; timeouts."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from pm_pipeline_bench.measure import GNU_TIME, ToolFailed, run_measured

HOG = [sys.executable, "-c", "b = bytearray(300 * 1024 * 1024); print(len(b)); raise SystemExit(3)"]
CHILD_HOG = [sys.executable, "-c", f"import subprocess; subprocess.run({HOG!r})"]


@pytest.mark.parametrize("gnu", [True, False])
def test_peak_rss_exit_code_and_output_of_the_tool(gnu: bool) -> None:
    if gnu and not GNU_TIME.exists():
        pytest.skip("no /usr/bin/time on this machine")
    measured = run_measured(HOG, use_gnu_time=gnu)
    assert measured.exit_code == 3
    assert measured.stdout.strip() == str(300 * 1024 * 1024)
    assert 300 <= measured.peak_rss_mb < 600
    assert measured.wall_s > 0


@pytest.mark.parametrize("gnu", [True, False])
def test_a_child_process_of_the_tool_is_counted(gnu: bool) -> None:
    if gnu and not GNU_TIME.exists():
        pytest.skip("no /usr/bin/time on this machine")
    assert run_measured(CHILD_HOG, use_gnu_time=gnu).peak_rss_mb >= 300


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a process that still runs (a zombie has exited, only its entry is left)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("gnu", [True, False])
def test_a_run_past_its_timeout_is_killed_with_every_process_it_started(gnu: bool, tmp_path: Path) -> None:
    if gnu and not GNU_TIME.exists():
        pytest.skip("no /usr/bin/time on this machine")
    pids = tmp_path / "pids"
    # A shell that starts a sleep of its own, records both process ids and waits for the sleep.
    # Neither holds the output pipes, so killing only the measured process would return at once
    # and leave both running.
    script = f'exec >/dev/null 2>&1; sleep 300 & echo "$$ $!" > {pids}.tmp && mv {pids}.tmp {pids}; wait'
    command = ["sh", "-c", script]

    with pytest.raises(ToolFailed, match=r"^timed out after 1 s$"):
        run_measured(command, timeout_s=1, use_gnu_time=gnu)

    started = [int(pid) for pid in pids.read_text().split()]
    assert len(started) == 2
    deadline = time.monotonic() + 10  # SIGKILL is delivered asynchronously: give the kernel a moment
    while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in started)
