"""The Dagster UI (the session's shared `make ui` server, after a demo run) loads the code location on
the demo spec, serves its assets and asset checks over GraphQL and shows no sign-up pop-up; under `dagster dev`, a spec with a verified snapshot shows the rollback
job with its ops in foreign-key order, and a dry run launched over GraphQL writes nothing."""

from __future__ import annotations

import contextlib
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.cli import main
from pm_pipeline.core.reconcile.verdict import CHECK_NAMES
from pm_pipeline.defs.rollback import ROLLBACK_JOB_NAME
from pm_pipeline_tests.conftest import PgDatabase
from pm_pipeline_tests.core.rollback import data
from pm_pipeline_tests.test_cli_rollback import write_rollback_spec
from pm_pipeline_tests.test_definitions import TABLES, dagster_home
from pm_pipeline_tests.ui_server import UiServer

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


@contextlib.contextmanager
def _serving(arguments: list[str], *, spec: Path, home: Path, cwd: Path) -> Iterator[str]:
    """Run a Dagster server (``arguments`` plus host and port) on ``spec``; yield its URL once it answers."""
    port = _free_port()
    log_path = cwd / "webserver.log"
    log = log_path.open("wb")
    command = [*arguments, "-h", "127.0.0.1", "-p", str(port)]
    env = {**os.environ, "PM_SPEC": str(spec), "DAGSTER_HOME": str(home)}
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"{arguments[0]} exited with {process.returncode}: {_tail(log_path)}")
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no /server_info after {STARTUP_SECONDS} s: {_tail(log_path)}")
            time.sleep(0.5)
        yield url
    finally:
        _stop(process)
        log.close()


def _tail(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-3000:]


def _graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body: dict[str, Any] = json.loads(response.read())
    assert "errors" not in body, body.get("errors")
    data: dict[str, Any] = body["data"]
    return data


@pytest.mark.slow
def test_webserver_serves_the_assets_and_checks(ui_server: UiServer) -> None:
    data = _graphql(ui_server.url, QUERY)
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
    # dagster.yaml's `nux: enabled: false`: the UI asks this before showing its sign-up pop-up.
    assert _graphql(ui_server.url, "{ shouldShowNux }") == {"shouldShowNux": False}


RUN_SECONDS = 300
JOB_QUERY = """
query Job($selector: PipelineSelector!) {
  pipelineOrError(params: $selector) {
    __typename
    ... on Pipeline {
      solidHandles { solid { name inputs { dependsOn { solid { name } } } } }
    }
    ... on PythonError { message }
  }
}
"""
LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
RUN_STATUS = """
query Status($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }
"""
RUN_SQL = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on ExecutionStepOutputEvent {
          stepKey
          metadataEntries { label ... on MarkdownMetadataEntry { mdStr } }
        }
      }
    }
  }
}
"""


def _pg_checksums(url: str) -> dict[str, str]:
    return data.checksum_values(url)


@dataclass(frozen=True)
class RollbackUi:
    url: str
    directory: Path
    db: PgDatabase
    plan_checksum: str  # the plan reviewed and approved once with the CLI


@pytest.fixture
def rollback_ui(pg_db: PgDatabase, tmp_path: Path) -> Iterator[RollbackUi]:
    """`dagster dev` (webserver and daemon, so a launched run is dequeued) on a damaged PostgreSQL
    target whose verified snapshot was taken, planned and approved once with `pm-pipeline rollback`."""
    pg_db.execute(*data.PG_SCHEMA)
    spec = write_rollback_spec(tmp_path, pg_db.url, data.TABLES)
    assert main(["rollback", "snapshot", "--spec", str(spec)]) == 0
    pg_db.execute(*data.PG_DAMAGE)
    assert main(["rollback", "plan", "--spec", str(spec)]) == 0
    (saved,) = (tmp_path / "audit" / "plans").glob("*.json")
    checksum = saved.stem
    approve = ["rollback", "approve", "--spec", str(spec), "--plan-checksum", checksum, "--approver", "alice"]
    assert main(approve) == 0
    home = dagster_home(tmp_path / "dagster_home")
    dev = str(Path(sys.executable).with_name("dagster"))
    with _serving([dev, "dev", "-m", "pm_pipeline.definitions"], spec=spec, home=home, cwd=tmp_path) as url:
        yield RollbackUi(url, tmp_path, pg_db, checksum)


def _selector(url: str) -> dict[str, str]:
    (entry,) = _graphql(url, QUERY)["workspaceOrError"]["locationEntries"]
    location = entry["locationOrLoadError"]
    assert location["__typename"] == "RepositoryLocation", location
    (repository,) = location["repositories"]
    return {
        "repositoryLocationName": entry["name"],
        "repositoryName": repository["name"],
        "pipelineName": ROLLBACK_JOB_NAME,
    }


def _wait_for(url: str, run_id: str) -> str:
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        status = str(_graphql(url, RUN_STATUS, {"runId": run_id})["runOrError"]["status"])
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(1)
    pytest.fail(f"run {run_id} did not finish within {RUN_SECONDS} s")


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.postgres
def test_ui_shows_the_rollback_job_in_fk_order_and_runs_it_dry(rollback_ui: RollbackUi) -> None:
    url, directory, db = rollback_ui.url, rollback_ui.directory, rollback_ui.db
    selector = _selector(url)
    job = _graphql(url, JOB_QUERY, {"selector": selector})["pipelineOrError"]
    assert job["__typename"] == "Pipeline", job
    upstream = {
        h["solid"]["name"]: {d["solid"]["name"] for i in h["solid"]["inputs"] for d in i["dependsOn"]}
        for h in job["solidHandles"]
    }
    # Parents are restored before their children: customers <- orders <- order_items.
    assert upstream["stage_customers"] == {"check_approvals"}
    assert upstream["stage_orders"] == {"stage_customers"}
    assert upstream["stage_order_items"] == {"stage_orders"}
    assert {"stage_customers", "stage_orders", "stage_order_items"} <= upstream["apply_restore"]
    assert "apply_restore" in upstream["verify_restore"]

    damaged = _pg_checksums(db.url)
    params = {
        "selector": selector,
        "runConfigData": {"resources": {"rollback": {"config": {"dry_run": True, "actor": "ui"}}}},
    }
    launched = _graphql(url, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    assert _wait_for(url, run_id) == "SUCCESS"

    assert _pg_checksums(db.url) == damaged
    records = [json.loads(line) for line in (directory / "audit" / "rollback.jsonl").read_text().splitlines()]
    finished = {r["data"]["step"]: r for r in records if r["event"] == "rollback.step.finished"}
    assert set(finished) == set(upstream)
    assert all(r["actor"] == "ui" and r["data"]["dry_run"] for r in finished.values())
    # The job runs the plan reviewed with the CLI and counts the approval given there.
    assert {r["data"]["plan_checksum"] for r in finished.values()} == {rollback_ui.plan_checksum}
    assert finished["check_approvals"]["data"]["detail"] == "1 of 2 approvals"
    assert finished["apply_restore"]["data"]["status"] == "dry_run"
    assert [r for r in records if r["event"].startswith("rollback.write")] == []
    events = _graphql(url, RUN_SQL, {"runId": run_id})["logsForRun"]["events"]
    shown = [
        entry["mdStr"]
        for event in events
        if event.get("stepKey") == "apply_restore"
        for entry in event.get("metadataEntries", [])
        if entry["label"] == "sql"
    ]
    assert shown and 'DELETE FROM "order_items"' in shown[0]
