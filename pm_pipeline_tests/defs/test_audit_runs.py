"""Runs launched in Dagster are audited with their origin (sensor, schedule, UI) and the chain's head becomes asset metadata."""

import json
import sqlite3
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster import AssetExecutionContext

from pm_pipeline.defs.audit import record_report_run, run_origin
from pm_pipeline.defs.resources import MigrationResource


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"dagster/sensor_name": "pm_drift"}, ("dagster:sensor", "sensor:pm_drift")),
        ({"dagster/schedule_name": "nightly"}, ("dagster:schedule", "schedule:nightly")),
        ({"dagster/backfill": "abc"}, ("dagster:backfill", "backfill:abc")),
        ({}, ("dagster:ui", "dagster")),
    ],
)
def test_run_origin(tags: dict[str, str], expected: tuple[str, str]) -> None:
    assert run_origin(tags) == expected


def test_a_sensor_run_is_recorded_and_its_head_is_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PM_AUDIT_KEY", "x" * 32)
    database = tmp_path / "d.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY)")
    log = tmp_path / "audit.jsonl"
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"source: {{url: 'sqlite:///{database}'}}\ntarget: {{url: 'sqlite:///{database}'}}\n"
        f"tables: [{{source: items}}]\naudit: {{log: '{log}'}}\n"
    )
    report = tmp_path / "findings.json"
    report.write_text("{}")

    @dg.asset
    def audited(context: AssetExecutionContext, migration: MigrationResource) -> dg.MaterializeResult[Any]:
        written = {"json": report}
        return dg.MaterializeResult(
            metadata=record_report_run(context, migration, verdict="pass", tables=["items"], written=written)
        )

    result = dg.materialize(
        [audited],
        resources={"migration": MigrationResource(spec_path=str(spec))},
        tags={"dagster/sensor_name": "pm_drift"},
    )
    (materialization,) = result.asset_materializations_for_node("audited")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["event"], r["origin"], r["actor"]) for r in records] == [
        ("check.run", "dagster:sensor", "sensor:pm_drift"),
        ("report.written", "dagster:sensor", "sensor:pm_drift"),
    ]
    assert metadata["audit_head"] == records[-1]["hash"] and metadata["audit_seq"] == 1
    assert records[-1]["data"]["files"]["json"].startswith("sha256:") and records[0]["mac"] == "hmac-sha256"
