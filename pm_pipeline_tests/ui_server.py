"""One Dagster UI for every test that needs a served UI (the browser test, the webserver's GraphQL
test): the session's demo run (``failing_demo_run``: a DAGSTER_HOME holding the project's own
dagster.yaml), served by `python -m pm_pipeline.devserver` (what `make ui` runs) on a free port. At the end of the
session it is stopped with SIGTERM, as a service manager would, and must be gone within
STOP_SECONDS: a teardown error says otherwise."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 90
STOP_SECONDS = 60


@dataclass(frozen=True)
class UiServer:
    url: str
    directory: Path
    home: Path
    spec: Path
    reports: Path
    run_id: str
    process: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _tail(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-3000:]


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def stop(process: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM to the launcher alone; its exit code, or None (and SIGKILL) if it still runs after
    STOP_SECONDS."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        _kill(process)
        return None


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    from pm_pipeline_tests.test_definitions import (
        create_instance_home,
        demo_run_home,
        failing_demo_paths,
        failing_demo_run,
    )

    base = tmp_path_factory.getbasetemp()
    spec = failing_demo_paths(base).spec  # the code location loads it as the server starts
    home = demo_run_home(base)
    if not (home / "dagster.yaml").exists():
        create_instance_home(home)  # before the server opens it; the demo run then follows
    directory = tmp_path_factory.mktemp("ui")
    port = free_port()
    log = directory / "devserver.log"
    command = [
        sys.executable,
        "-m",
        "pm_pipeline.devserver",
        "--port",
        str(port),
        "--workspace",
        str(ROOT / "workspace.yaml"),
    ]
    env = {**os.environ, "PM_SPEC": str(spec), "DAGSTER_HOME": str(home)}
    with log.open("wb") as output:
        # A session of its own, so that the test's SIGTERM reaches the launcher only, as `kill` would.
        process = subprocess.Popen(
            command, env=env, cwd=directory, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        url = f"http://127.0.0.1:{port}"
        try:
            # The session's demo run (the tables and reports tests share it) is made while the server
            # starts, unless they made it already: the UI reads the instance as runs are recorded.
            run = failing_demo_run(base)
            assert run.paths.spec == spec and run.home == home
            deadline = time.monotonic() + STARTUP_SECONDS
            while not answers(url):
                if process.poll() is not None:
                    pytest.fail(f"make ui's launcher exited with {process.returncode}: {_tail(log)}")
                if time.monotonic() > deadline:
                    pytest.fail(f"no /server_info after {STARTUP_SECONDS} s: {_tail(log)}")
                time.sleep(0.5)
        except BaseException:
            _kill(process)
            raise
        yield UiServer(
            url, directory, home, spec, run.paths.directory / "reports", str(run.result.run_id), process, log
        )
        code = stop(process)
        assert code == 0, f"the UI did not stop on SIGTERM within {STOP_SECONDS} s: {_tail(log)}"
        assert not answers(url), f"{url} still answers after the launcher stopped"
