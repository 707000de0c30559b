"""A Dagster instance on dagster-postgres storage records the demo run's materializations and check
evaluations in PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from pm_pipeline.core.reconcile.verdict import CHECK_NAMES
from pm_pipeline.defs.monitoring import read_metric_history
from pm_pipeline_tests.conftest import PG_HOST, PG_PORT, PgDatabase
from pm_pipeline_tests.test_definitions import TABLES, build, demo_copy

pytestmark = [pytest.mark.postgres, pytest.mark.filterwarnings("ignore::dagster.BetaWarning")]


def _dagster_yaml(database: str) -> str:
    settings = f"""
    postgres_db:
      hostname: {PG_HOST}
      port: {PG_PORT}
      username: postgres
      password: ""
      db_name: {database}
      scheme: postgresql+psycopg2"""
    # psycopg2 explicitly: SQLAlchemy 2.1 would otherwise pick psycopg 3, which dagster-postgres cannot use.
    storages = {
        "run_storage": "PostgresRunStorage",
        "event_log_storage": "PostgresEventLogStorage",
        "schedule_storage": "PostgresScheduleStorage",
    }
    blocks = [
        f"{name}:\n  module: dagster_postgres\n  class: {cls}\n  config:{settings}\n"
        for name, cls in storages.items()
    ]
    return "telemetry:\n  enabled: false\n" + "".join(blocks)


def test_the_demo_run_is_stored_in_postgres(
    pg_db: PgDatabase, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(_dagster_yaml(pg_db.name), encoding="utf-8")
    paths = demo_copy(tmp_path_factory.getbasetemp(), tmp_path / "demo")
    defs = build(paths.spec)
    # Everything but the report (its PDFs cost seconds and say nothing about storage).
    selection = [k for k in defs.resolve_all_asset_keys() if k.path[0] not in ("source", "target", "reports")]

    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = defs.resolve_job_def("migration_check").execute_in_process(
            instance=instance, raise_on_error=False, asset_selection=selection
        )
        assert not result.success  # the demo's blocking checks fail

        key = dg.AssetKey(["reconciliation", "customers"])
        event = instance.get_latest_materialization_event(key)
        assert event is not None and event.run_id == result.run_id
        assert event.asset_materialization is not None
        assert event.asset_materialization.metadata["missing_rows"].value == 3
        records = instance.fetch_materializations(key, limit=10).records
        assert [r.run_id for r in records] == [result.run_id]
        materialized = len(result.get_asset_materialization_events())
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
        # The monitoring sensors trend metrics read back from this storage.
        history = read_metric_history(instance, dg.AssetKey(["verified", "customers"]))
        assert [point.run_id for point in history] == [result.run_id]
        assert history[0].values["source_rows"] == 800
        assert history[0].values["target_rows"] == 797
        assert 0 < history[0].values["match_score"] < 1

    # The same facts read straight from the PostgreSQL tables dagster-postgres created.
    (runs,) = pg_db.query(f"SELECT count(*) FROM runs WHERE run_id = '{result.run_id}'")
    assert runs[0] == 1
    counted = pg_db.query(
        "SELECT dagster_event_type, count(*) FROM event_logs "
        f"WHERE run_id = '{result.run_id}' GROUP BY dagster_event_type"
    )
    rows = {event_type: count for event_type, count in counted}
    assert rows["ASSET_CHECK_EVALUATION"] == len(CHECK_NAMES) * len(TABLES)
    # At least reconciliation, schema and verified per table: as the run reported them.
    assert rows["ASSET_MATERIALIZATION"] == materialized >= 3 * len(TABLES)
    assert rows[dg.DagsterEventType.RUN_FAILURE.value] == 1
    assert rows[dg.DagsterEventType.STEP_FAILURE.value] == len(TABLES)
    (checks,) = pg_db.query(
        "SELECT count(*) FROM asset_check_executions "
        f"WHERE run_id = '{result.run_id}' AND execution_status = 'FAILED'"
    )
    assert isinstance(checks[0], int) and checks[0] > 0
