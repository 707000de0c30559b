"""Two tenants served by one Dagster instance: the UI lists each code location's assets apart (and a
tenant whose location fails to load hides no other), and the run queue holds a third run on one
source database while the other tenant's run proceeds, then starts it when a slot frees."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from pm_pipeline.cli import main
from pm_pipeline_tests.test_webserver import LAUNCH, _graphql, _serving

STOP_SECONDS = 15
QUEUE_SECONDS = 180
LOAD_SECONDS = 120
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
LOCATIONS = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name assetNodes { assetKey { path } } } }
          ... on PythonError { message causes { message } }
        }
      }
    }
  }
}
"""
RUNS = """
query Runs($ids: [String!]) {
  runsOrError(filter: {runIds: $ids}) {
    __typename
    ... on Runs { results { runId status startTime endTime tags { key value } } }
  }
}
"""
EVENTS = """
query Events($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection { events { __typename ... on MessageEvent { timestamp } } }
  }
}
"""


def _tenant(root: Path, name: str, table: str, *, rows: int = 200, reads: str | None = None) -> None:
    """A tenant folder whose spec compares its own SQLite database (named by its secret) with itself."""
    folder = root / name
    folder.mkdir(parents=True)
    variable = f"{name.upper()}_DB"
    database = folder / f"{name}.db"
    with sqlite3.connect(database) as connection:
        connection.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, label TEXT NOT NULL)")
        connection.executemany(
            f"INSERT INTO {table} VALUES (?, ?)", [(i, f"{table}-{i}") for i in range(rows)]
        )
    (folder / "tenant.env").write_text(f"{variable}={database}\nPM_EXECUTOR=in_process\n")
    url = f"sqlite:///${{{reads or variable}}}"
    spec = {
        "name": name,
        "source": {"url": url},
        "target": {"url": url},
        "tables": [{"source": table}],
        "reports": {"directory": str(folder / "reports")},
    }
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))


@dataclass(frozen=True)
class Served:
    url: str
    directory: Path
    daemon: subprocess.Popen[bytes]


@contextlib.contextmanager
def _daemon(workspace: Path, *, home: Path, cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`dagster-daemon run` (the run queue's dequeuer) on the workspace; stopped with SIGINT to its group."""
    log = (cwd / "daemon.log").open("wb")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("PM_SPEC", None)
    daemon = str(Path(sys.executable).with_name("dagster-daemon"))
    process = subprocess.Popen(
        [daemon, "run", "-w", str(workspace)], env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`dagster-webserver -w` on the workspace `pm-pipeline workspace` wrote for three tenants: shop
    (table orders), billing (table invoices) and broken (its spec names a secret it does not have)."""
    directory = tmp_path_factory.mktemp("tenants_served")
    root = directory / "tenants"
    _tenant(root, "shop", "orders")
    _tenant(root, "billing", "invoices")
    _tenant(root, "broken", "ledger", reads="NOWHERE_DB")
    home = directory / "dagster_home"
    home.mkdir()
    instance = home / "dagster.yaml"
    instance.write_text(
        "telemetry:\n  enabled: false\nnux:\n  enabled: false\nrun_queue:\n  dequeue_interval_seconds: 1\n"
    )
    workspace = directory / "workspace.yaml"
    # The source limit, not the tenant's, is what holds shop's third run.
    code = main(["workspace", str(root), "--out", str(workspace), "--instance-config", str(instance),
                 "--runs-per-tenant", "3", "--runs-per-source", "2"])  # fmt: skip
    assert code == 0
    # Created once here: the daemon and the webserver, starting together, would both migrate them.
    with dg.DagsterInstance.from_config(str(home)) as created:
        created.get_run_records(limit=1)
        created.fetch_materializations(dg.AssetKey("none"), limit=1)
        created.all_instigator_state()
    webserver = str(Path(sys.executable).with_name("dagster-webserver"))
    # The daemon loads its own copy of the locations while the webserver loads the UI's.
    with (
        _daemon(workspace, home=home, cwd=directory) as daemon,
        _serving(
            [webserver, "-w", str(workspace)], spec=root / "shop" / "spec.yaml", home=home, cwd=directory
        ) as url,
    ):
        _wait_for_locations(url)
        yield Served(url, directory, daemon)


def _entries(url: str) -> list[dict[str, Any]]:
    workspace = _graphql(url, LOCATIONS)["workspaceOrError"]
    assert workspace["__typename"] == "Workspace", workspace
    return list(workspace["locationEntries"])


def _wait_for_locations(url: str) -> None:
    """The webserver answers before it has loaded its locations: wait until each has loaded or failed."""
    deadline = time.monotonic() + LOAD_SECONDS
    while True:
        entries = _entries(url)
        loading = [entry["name"] for entry in entries if entry["loadStatus"] != "LOADED"]
        if entries and not loading:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"locations still loading after {LOAD_SECONDS} s: {loading}")
        time.sleep(0.5)


def _locations(url: str) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry["locationOrLoadError"] for entry in _entries(url)}


def _asset_keys(location: dict[str, Any]) -> set[str]:
    assert location["__typename"] == "RepositoryLocation", location
    return {
        "/".join(node["assetKey"]["path"]) for repo in location["repositories"] for node in repo["assetNodes"]
    }


@pytest.mark.slow
def test_ui_lists_each_locations_assets_apart(served: Served) -> None:
    locations = _locations(served.url)
    assert set(locations) == {"pm_shop", "pm_billing", "pm_broken"}
    shop, billing = _asset_keys(locations["pm_shop"]), _asset_keys(locations["pm_billing"])
    # Each location's keys start with its tenant: the instance keeps one asset per key, so no two
    # tenants' materialization histories mix.
    assert {"shop/reconciliation/orders", "shop/verified/orders", "shop/reports/migration_report"} <= shop
    assert {"billing/reconciliation/invoices", "billing/verified/invoices"} <= billing
    assert all(key.startswith("shop/") for key in shop) and all(key.startswith("billing/") for key in billing)
    assert not any("invoices" in key for key in shop) and not any("orders" in key for key in billing)
    # broken's spec names a secret only another environment could hold: its location fails with the
    # reason, and the two others load as if it were not there.
    assert locations["pm_broken"]["__typename"] == "PythonError"
    error = locations["pm_broken"]
    assert "environment variable NOWHERE_DB is not set" in str([error["message"], error["causes"]])


def _launch(url: str, location: str, job: str) -> str:
    params = {
        "selector": {
            "repositoryLocationName": location,
            "repositoryName": "__repository__",
            "pipelineName": job,
        },
        "runConfigData": {},
    }
    launched = _graphql(url, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return str(launched["run"]["runId"])


def _runs(url: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    runs = _graphql(url, RUNS, {"ids": ids})["runsOrError"]
    assert runs["__typename"] == "Runs", runs
    return {run["runId"]: run for run in runs["results"]}


def _dequeued_at(url: str, run_id: str) -> float:
    """When the daemon took the run off the queue to launch it (its STARTING event; seconds since the epoch)."""
    events = _graphql(url, EVENTS, {"runId": run_id})["logsForRun"]
    assert events["__typename"] == "EventConnection", events
    dequeued = [e for e in events["events"] if e["__typename"] == "RunStartingEvent"]
    assert len(dequeued) == 1, " ".join(sorted({e["__typename"] for e in events["events"]}))
    return int(dequeued[0]["timestamp"]) / 1000


@pytest.mark.long
@pytest.mark.slow
def test_the_queue_holds_a_third_run_on_one_source_while_the_other_tenant_proceeds(served: Served) -> None:
    url, daemon = served.url, served.daemon
    # Submitted in this order: billing's run comes last, behind shop's held third run.
    shop = [_launch(url, "pm_shop", "shop__migration_check") for _ in range(3)]
    billing = _launch(url, "pm_billing", "billing__migration_check")
    ids = [*shop, billing]
    held_while_running = False
    deadline = time.monotonic() + QUEUE_SECONDS
    while True:
        runs = _runs(url, ids)
        status = {run_id: runs[run_id]["status"] for run_id in ids}
        if status[shop[2]] == "QUEUED" and all(
            status[run_id] in ("STARTING", "STARTED") for run_id in shop[:2]
        ):
            held_while_running = True
        if all(value in FINISHED for value in status.values()):
            break
        if daemon.poll() is not None or time.monotonic() > deadline:
            log = (served.directory / "daemon.log").read_text(errors="replace")[-3000:]
            pytest.fail(f"runs not finished: {status}; daemon: {log}")
        time.sleep(0.25)
    assert status == dict.fromkeys(ids, "SUCCESS"), status
    tags = {run_id: {t["key"]: t["value"] for t in runs[run_id]["tags"]} for run_id in ids}
    assert {tags[run_id]["pm/tenant"] for run_id in shop} == {"shop"}
    assert tags[billing]["pm/tenant"] == "billing"
    assert len({tags[run_id]["pm/source"] for run_id in shop}) == 1
    assert tags[billing]["pm/source"] != tags[shop[0]]["pm/source"]
    # The queue's own record: shop's third run left the queue only once one of the first two had
    # ended, and billing's, submitted after it, left it and started before it.
    dequeued = {run_id: _dequeued_at(url, run_id) for run_id in ids}
    start = {run_id: runs[run_id]["startTime"] for run_id in ids}
    end = {run_id: runs[run_id]["endTime"] for run_id in ids}
    assert dequeued[shop[2]] >= min(end[shop[0]], end[shop[1]]), (dequeued, end)
    assert dequeued[billing] < dequeued[shop[2]] and start[billing] < start[shop[2]], (dequeued, start)
    assert held_while_running, "shop's third run was never seen queued while the first two ran"
    # Each tenant's report asset holds only its own runs, and the daemon saw no key in two locations.
    with dg.DagsterInstance.from_config(str(served.directory / "dagster_home")) as instance:
        for tenant, own in (("shop", shop), ("billing", [billing])):
            key = dg.AssetKey([tenant, "reports", "migration_report"])
            records = instance.fetch_materializations(key, limit=10).records
            assert sorted(record.run_id for record in records) == sorted(own), tenant
    log = (served.directory / "daemon.log").read_text(errors="replace")
    assert "in multiple code locations" not in log
