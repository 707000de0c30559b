"""The real dagster-webserver loads the code location on the demo spec and serves its assets and
asset checks over GraphQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core.reconcile.verdict import CHECK_NAMES
from pm_pipeline_tests.test_definitions import TABLES, dagster_home, demo_copy

STARTUP_SECONDS = 60
QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name } }
          ... on PythonError { message }
        }
      }
    }
  }
  assetNodes {
    assetKey { path }
    groupName
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name blocking } }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # The webserver ignores a SIGINT sent to it alone when started without a terminal: signal its group.
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
def webserver(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    paths = demo_copy(tmp_path_factory.getbasetemp(), tmp_path / "demo")
    home = dagster_home(tmp_path / "dagster_home")
    port = _free_port()
    log = (tmp_path / "webserver.log").open("wb")
    command = [
        str(Path(sys.executable).with_name("dagster-webserver")),
        "-m",
        "pm_pipeline.definitions",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    env = {**os.environ, "PM_SPEC": str(paths.spec), "DAGSTER_HOME": str(home)}
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"webserver exited with {process.returncode}: {_tail(tmp_path / 'webserver.log')}"
                )
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no /server_info after {STARTUP_SECONDS} s: {_tail(tmp_path / 'webserver.log')}")
            time.sleep(0.5)
        yield url
    finally:
        _stop(process)
        log.close()


def _tail(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-3000:]


def _graphql(url: str, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body: dict[str, Any] = json.loads(response.read())
    assert "errors" not in body, body.get("errors")
    data: dict[str, Any] = body["data"]
    return data


@pytest.mark.slow
def test_webserver_serves_the_assets_and_checks(webserver: str) -> None:
    data = _graphql(webserver, QUERY)
    (entry,) = data["workspaceOrError"]["locationEntries"]
    location = entry["locationOrLoadError"]
    assert location["__typename"] == "RepositoryLocation", location
    assert location["repositories"]
    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    assert nodes["reconciliation/customers"]["groupName"] == "reconciliation"
    for table in TABLES:
        checks = nodes[f"verified/{table}"]["assetChecksOrError"]
        assert checks["__typename"] == "AssetChecks"
        assert {(c["name"], c["blocking"]) for c in checks["checks"]} == {(n, True) for n in CHECK_NAMES}
    assert {"rows_match", "values_match", "schema_match"} <= set(CHECK_NAMES)
    assert "reports/migration_report" in nodes
