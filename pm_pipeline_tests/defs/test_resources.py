"""Every asset reaches the databases through ``MigrationResource``: a deployment (or a test) that
gives the run another resource decides which databases the checks read."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pm_pipeline.core.config import load_spec
from pm_pipeline.core.config.spec import Endpoint
from pm_pipeline.core.connectors import Connector
from pm_pipeline.defs.assets.tables import build_table_assets
from pm_pipeline.defs.resources import MigrationResource

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")

OPENED: list[str] = []


class RedirectedTarget(MigrationResource):
    """Opens the replacement database wherever the spec names the target, and records every opening."""

    replacement: str

    def open(self, endpoint: Endpoint) -> Connector:
        spec = self.spec()
        redirected = endpoint.url == spec.target.url
        OPENED.append("target" if redirected else "source")
        return super().open(endpoint.model_copy(update={"url": self.replacement}) if redirected else endpoint)


def _database(path: Path, rows: range) -> str:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        db.executemany("INSERT INTO items VALUES (?, ?)", [(i, f"item {i}") for i in rows])
    return f"sqlite:///{path}"


@pytest.fixture
def spec_path(tmp_path: Path) -> Iterator[Path]:
    source = _database(tmp_path / "source.db", range(1, 11))
    target = _database(tmp_path / "target.db", range(1, 11))
    path = tmp_path / "spec.yaml"
    path.write_text(
        f"name: shop\nsource: {{url: '{source}'}}\ntarget: {{url: '{target}'}}\n"
        f"tables: [{{source: items}}]\nreports: {{directory: '{tmp_path / 'reports'}'}}\n"
    )
    OPENED.clear()
    yield path
    OPENED.clear()


def _materialize(spec_path: Path, resource: MigrationResource) -> tuple[bool, dict[str, Any]]:
    spec = load_spec(spec_path)
    assets, _ = build_table_assets(spec, spec.tables)
    result = dg.materialize(assets, resources={"migration": resource}, raise_on_error=False)
    (materialization,) = [
        m for m in result.get_asset_materialization_events() if m.asset_key.path[0] == "reconciliation"
    ]
    metadata = materialization.step_materialization_data.materialization.metadata
    return result.success, {k: v.value for k, v in metadata.items()}


def test_the_checks_read_the_databases_the_resource_opens(spec_path: Path, tmp_path: Path) -> None:
    passed, as_spec = _materialize(spec_path, MigrationResource(spec_path=str(spec_path)))
    assert passed and as_spec["missing_rows"] == 0
    # The same assets, given a resource that swaps the target for one that lost four rows.
    lossy = _database(tmp_path / "lossy.db", range(1, 7))
    passed, swapped = _materialize(spec_path, RedirectedTarget(spec_path=str(spec_path), replacement=lossy))
    assert not passed and swapped["missing_rows"] == 4  # the blocking checks fail the run
    # Observation, reconciliation, schema and integrity each went through it, on both sides.
    assert OPENED.count("source") >= 3 and OPENED.count("target") >= 3


def test_connections_use_the_resources_urls_whoever_loaded_the_spec(spec_path: Path, tmp_path: Path) -> None:
    # A sensor and the code location's discovery pass the spec they were built with; the URLs a
    # deployment sets on the resource (e.g. from an environment variable) still decide.
    other = _database(tmp_path / "other.db", range(1, 4))
    resource = MigrationResource(spec_path=str(spec_path), target_url=other)
    built_with = load_spec(spec_path)
    with resource.connections(built_with) as (source, target):
        assert target.execute("SELECT count(*) FROM items")[0][0] == 3
        assert source.execute("SELECT count(*) FROM items")[0][0] == 10
