"""The drift sensor on real PostgreSQL databases: a changed table gets one run request, nothing twice,
and every tick connects through the definitions' ``migration`` resource."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pm_pipeline.core.config import load_spec
from pm_pipeline.core.config.monitoring import parse_monitoring
from pm_pipeline.core.config.spec import Endpoint, SourceEndpoint
from pm_pipeline.core.connectors import Connector
from pm_pipeline.defs.monitoring.drift import TICK_READERS_WAIT, build_drift_sensor
from pm_pipeline.defs.resources import MigrationResource

opened: list[tuple[str, float | None]] = []  # (url, the source's readers_wait) of every connection opened


class RecordingResource(MigrationResource):
    """The spec's own databases, with every connection the sensor opens recorded."""

    def open(self, endpoint: Endpoint) -> Connector:
        opened.append((endpoint.url, endpoint.readers_wait if isinstance(endpoint, SourceEndpoint) else None))
        return super().open(endpoint)


def _tick(
    sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None, resource: MigrationResource
) -> Any:
    # Stand-ins for the lead's reconciliation assets: the sensor only needs their keys to exist.
    targets = [dg.AssetSpec(["reconcile", name]) for name in ("orders", "customers")]
    definitions = dg.Definitions(assets=targets, sensors=[sensor])
    # The daemon hands a sensor the resources of its code location; a test hands them over itself.
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=definitions, resources={"migration": resource}
    )
    return sensor.evaluate_tick(context)


def _observed(tick: Any) -> set[tuple[str, int]]:
    """(asset, row_count) of the observations a tick recorded."""
    return {
        (event.asset_key.to_user_string(), event.metadata["row_count"].value)
        for event in tick.asset_events
        if isinstance(event, dg.AssetObservation)
    }


@pytest.mark.postgres
def test_insert_into_one_source_table_requests_that_table_only(
    pg_db: Any, pg_db2: Any, tmp_path: Path
) -> None:
    for db in (pg_db, pg_db2):
        db.execute(
            "CREATE TABLE orders (id int PRIMARY KEY, changed timestamp)",
            "CREATE TABLE customers (id int PRIMARY KEY, name text)",
            "INSERT INTO orders SELECT g, '2024-01-01' FROM generate_series(1, 200) g",
            "INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 50) g",
        )
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        json.dumps(  # JSON is YAML
            {
                "source": {"url": pg_db.url},
                "target": {"url": pg_db2.url},
                "tables": [{"source": "orders", "updated_at": "changed"}, {"source": "customers"}],
            }
        )
    )
    spec = load_spec(spec_path)
    resource = RecordingResource(spec_path=str(spec_path))
    opened.clear()
    settings = parse_monitoring({"drift": {"interval": "30s"}}, file="spec.yaml")
    assets = {
        "orders": dg.AssetKey(["reconcile", "orders"]),
        "customers": dg.AssetKey(["reconcile", "customers"]),
    }
    sensor = build_drift_sensor(spec, settings, table_assets=assets)
    with dg.DagsterInstance.ephemeral() as instance:
        baseline = _tick(sensor, instance, None, resource)
        assert baseline.run_requests == []  # first sight records the baseline only
        # One connection per side; the source waits for a reader slot no longer than a tick may.
        assert opened == [(pg_db.url, TICK_READERS_WAIT), (pg_db2.url, None)]
        assert spec.source.readers_wait > TICK_READERS_WAIT
        assert set(json.loads(baseline.cursor)["fingerprints"]) == {"orders", "customers"}
        # Tables seen for the first time are observed on both sides with the rows just counted.
        assert _observed(baseline) == {
            ("source/orders", 200),
            ("target/orders", 200),
            ("source/customers", 50),
            ("target/customers", 50),
        }

        pg_db.execute("INSERT INTO orders VALUES (201, '2024-02-01')")
        changed = _tick(sensor, instance, baseline.cursor, resource)
        assert [r.asset_selection for r in changed.run_requests] == [[assets["orders"]]]
        assert changed.run_requests[0].tags["pm_pipeline/table"] == "orders"
        assert json.loads(changed.cursor)["fingerprints"]["orders"]["source"]["rows"] == 201
        assert _observed(changed) == {("source/orders", 201), ("target/orders", 200)}

        unchanged = _tick(sensor, instance, changed.cursor, resource)
        assert unchanged.run_requests == []
        assert unchanged.cursor == changed.cursor
        assert _observed(unchanged) == set()
