"""One Dagster UI for every test that needs a served UI (the browser test, the webserver's GraphQL
test): the demo's main job run once into a DAGSTER_HOME holding the project's own dagster.yaml,
served by `python -m pm_pipeline.devserver` (what `make ui` runs) on a free port. At the end of the
session it is stopped with SIGTERM, as a service manager would, and must be gone within
STOP_SECONDS: a teardown error says otherwise."""

from __future__ import annotations

import contextlib
import os
import shutil
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


def _demo_run(spec: Path, home: Path) -> str:
    """The main job on the demo, in-process, recorded in the instance at ``home``."""
    import dagster as dg

    from pm_pipeline_tests.test_definitions import build, definitions_module

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        defs = build(spec)
        job = defs.resolve_job_def(definitions_module(spec).MAIN_JOB)
        with dg.DagsterInstance.get() as instance:
            result = job.execute_in_process(instance=instance, raise_on_error=False)
        return str(result.run_id)
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def _create_storage(home: Path) -> None:
    """Create the instance's SQLite databases before two processes (the server and the demo run)
    open them at once: both would create their schema, and the second migration would fail."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_run_records(limit=1)
        instance.fetch_materializations(dg.AssetKey("none"), limit=1)
        instance.all_instigator_state()


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
    from pm_pipeline_tests.test_definitions import demo_copy

    directory = tmp_path_factory.mktemp("ui")
    paths = demo_copy(tmp_path_factory.getbasetemp(), directory / "demo")
    home = directory / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    _create_storage(home)
    port = free_port()
    log = directory / "devserver.log"
    env = {**os.environ, "PM_SPEC": str(paths.spec), "DAGSTER_HOME": str(home)}
    command = [
        sys.executable,
        "-m",
        "pm_pipeline.devserver",
        "--port",
        str(port),
        "--workspace",
        str(ROOT / "workspace.yaml"),
    ]
    with log.open("wb") as output:
        # A session of its own, so that the test's SIGTERM reaches the launcher only, as `kill` would.
        process = subprocess.Popen(
            command, env=env, cwd=directory, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        url = f"http://127.0.0.1:{port}"
        try:
            # The server starts while the demo runs: the UI reads the instance as runs are recorded.
            run_id = _demo_run(paths.spec, home)
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
        yield UiServer(url, directory, home, paths.spec, paths.directory / "reports", run_id, process, log)
        code = stop(process)
        assert code == 0, f"the UI did not stop on SIGTERM within {STOP_SECONDS} s: {_tail(log)}"
        assert not answers(url), f"{url} still answers after the launcher stopped"
