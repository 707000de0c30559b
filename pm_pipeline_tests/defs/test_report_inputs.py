"""The report asset builds its report from what the table assets handed it: both servers' versions,
read on the connections the checks held, and the start of the run that checked the tables; it
opens no database of its own."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from pm_pipeline.core.config import load_spec
from pm_pipeline.core.config.spec import Endpoint
from pm_pipeline.core.connectors import Connector, open_endpoint
from pm_pipeline.defs.assets.reports import build_report_asset, report_key
from pm_pipeline.defs.assets.tables import build_table_assets
from pm_pipeline.defs.resources import MigrationResource

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")

OPENED: list[str] = []  # the URL of every connection the resource opened, in order


class CountingResource(MigrationResource):
    """The spec's own databases, with every connection an asset opens recorded."""

    def open(self, endpoint: Endpoint) -> Connector:
        OPENED.append(endpoint.url)
        return super().open(endpoint)


@pytest.fixture
def spec_path(tmp_path: Path) -> Path:
    # Two engines, so that a report naming one side's server for the other's cannot pass.
    with sqlite3.connect(tmp_path / "source.db") as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        db.executemany("INSERT INTO items VALUES (?, ?)", [(i, f"item {i}") for i in range(1, 11)])
    target = duckdb.connect(str(tmp_path / "target.duckdb"))
    # A correct migration keeps the id generator: SQLite's INTEGER PRIMARY KEY hands out ids.
    target.execute("CREATE SEQUENCE items_id START 11")
    target.execute("CREATE TABLE items (id BIGINT PRIMARY KEY DEFAULT nextval('items_id'), name VARCHAR)")
    target.execute("INSERT INTO items SELECT i, 'item ' || i FROM range(1, 11) t(i)")
    target.close()
    path = tmp_path / "spec.yaml"
    path.write_text(
        f"name: shop\nsource: {{url: 'sqlite:///{tmp_path / 'source.db'}'}}\n"
        f"target: {{url: 'duckdb:///{tmp_path / 'target.duckdb'}'}}\n"
        f"tables: [{{source: items}}]\nreports: {{directory: '{tmp_path / 'reports'}'}}\n",
        encoding="utf-8",
    )
    OPENED.clear()
    return path


def _assets(spec_path: Path) -> list[Any]:
    spec = load_spec(spec_path)
    tables, keys = build_table_assets(spec, spec.tables)
    return [*tables, build_report_asset(keys)]


def _report_run(spec_path: Path) -> dict[str, Any]:
    document = json.loads((spec_path.parent / "reports" / "latest" / "findings.json").read_text("utf-8"))
    run: dict[str, Any] = document["run"]
    return run


def _servers(spec_path: Path) -> tuple[str, str]:
    spec = load_spec(spec_path)
    with open_endpoint(spec.source) as source, open_endpoint(spec.target) as target:
        return source.server_version(), target.server_version()


def _first_table_step_start(instance: dg.DagsterInstance, run_id: str) -> dt.datetime:
    starts = [
        entry.timestamp
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
        if entry.step_key is not None
        and entry.step_key.split("__")[0] in {"reconciliation", "schema", "integrity"}
    ]
    assert len(starts) == 3  # the reconciliation, schema and integrity of the one table
    return dt.datetime.fromtimestamp(min(starts), dt.UTC)


def test_one_run_reports_both_servers_from_the_checks_own_start(spec_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    resources = {"migration": CountingResource(spec_path=str(spec_path))}
    result = dg.materialize(_assets(spec_path), resources=resources, instance=instance)
    assert result.success
    run = _report_run(spec_path)
    source_version, target_version = _servers(spec_path)
    assert source_version.startswith("SQLite") and target_version.startswith("DuckDB")
    assert (run["source_engine_version"], run["target_engine_version"]) == (source_version, target_version)
    started = dt.datetime.fromisoformat(run["started_at"])
    assert started <= _first_table_step_start(instance, result.run_id)
    assert started <= dt.datetime.fromisoformat(run["finished_at"])


def test_the_report_alone_opens_no_database_and_keeps_the_checks_times(
    spec_path: Path, tmp_path: Path
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    resources = {
        "migration": CountingResource(spec_path=str(spec_path)),
        "io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path / "storage")),
    }
    assets = _assets(spec_path)
    checks = dg.materialize(
        assets,
        resources=resources,
        instance=instance,
        selection=dg.AssetSelection.all() - dg.AssetSelection.assets(report_key()),
    )
    assert checks.success and OPENED  # the table assets connected, through the resource
    OPENED.clear()
    report = dg.materialize(assets, resources=resources, instance=instance, selection=[report_key()])
    assert report.success
    assert OPENED == []
    run = _report_run(spec_path)
    assert (run["source_engine_version"], run["target_engine_version"]) == _servers(spec_path)
    # The report's own run started after the checks: their start, not its own, is the report's.
    started = dt.datetime.fromisoformat(run["started_at"])
    assert started <= _first_table_step_start(instance, checks.run_id)
    report_run = instance.get_run_record_by_id(report.run_id)
    assert report_run is not None and report_run.start_time is not None
    assert started < dt.datetime.fromtimestamp(report_run.start_time, dt.UTC)
