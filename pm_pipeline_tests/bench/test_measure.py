"""Peak memory of a measured process, through GNU time and through the fallback wrapper process."""

from __future__ import annotations

import sys

import pytest

from pm_pipeline.bench.measure import GNU_TIME, run_measured

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
