"""A Dagster instance on dagster-postgres storage records the demo run's materializations and check
evaluations in PostgreSQL, and runs a backfill of a PostgreSQL table's key-hash buckets as parallel
runs (each on the multiprocess executor) whose combination equals a whole-table reconciliation."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pm_pipeline.core.reconcile.verdict import CHECK_NAMES
from pm_pipeline.defs.assets.tables import table_keys
from pm_pipeline.defs.monitoring import read_metric_history
from pm_pipeline.defs.partitions import bucket_job_name, bucket_key
from pm_pipeline_tests.conftest import PG_HOST, PG_PORT, PgDatabase, make_pg_database
from pm_pipeline_tests.defs.test_partitions import execute_request, summary, whole_table
from pm_pipeline_tests.test_definitions import TABLES, build, demo_copy

pytestmark = [pytest.mark.postgres, pytest.mark.filterwarnings("ignore::dagster.BetaWarning")]

BUCKETS = 4
ORDERS_DDL = (
    "CREATE TABLE orders (id bigint PRIMARY KEY, amount numeric(12,2), note text, placed timestamptz)"
)
ORDERS_ROWS = (
    "INSERT INTO orders SELECT g, g * 1.25, 'note ' || g, timestamptz '2024-01-01 00:00+00' + g * interval '1 h' "
    "FROM generate_series(1, 3000) g"
)
# What the migration got wrong: two lost rows, one extra, three edited notes and a shifted timestamp.
ORDERS_DEFECTS = (
    "DELETE FROM orders WHERE id IN (7, 1500)",
    "INSERT INTO orders VALUES (5000, 1, 'extra', NULL)",
    "UPDATE orders SET note = 'edited' WHERE id IN (10, 2000, 2999)",
    "UPDATE orders SET placed = placed + interval '1 h' WHERE id = 42",
)


@pytest.fixture
def storage_db() -> Iterator[PgDatabase]:
    """A third database, for Dagster's own storage (pg_db and pg_db2 hold the migration)."""
    yield from make_pg_database()


def _dagster_yaml(database: str, *, immediate_launch: bool = False) -> str:
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
    # The default coordinator queues runs for the daemon; this one launches them at once.
    coordinator = (
        "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: DefaultRunCoordinator\n"
        if immediate_launch
        else ""
    )
    return "telemetry:\n  enabled: false\n" + coordinator + "".join(blocks)


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


def _backfill(spec: Path, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`dagster job backfill` of every bucket: one run per partition, launched together."""
    env = {**os.environ, "PM_SPEC": str(spec), "DAGSTER_HOME": str(home)}
    env.pop("PM_EXECUTOR", None)
    dagster = Path(sys.executable).with_name("dagster")
    command = [
        str(dagster),
        "job",
        "backfill",
        "-m",
        "pm_pipeline.definitions",
        "-j",
        bucket_job_name("orders"),
    ]
    return subprocess.run(
        [*command, "--all", "TRUE", "--noprompt"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _finished_runs(
    instance: dg.DagsterInstance, backfill: str, deadline_s: float = 300
) -> list[dg.DagsterRun]:
    """The backfill's runs once every one has finished (the code server outlives the CLI until then)."""
    deadline = time.monotonic() + deadline_s
    while True:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill}))
        if len(runs) == BUCKETS and all(run.is_finished for run in runs):
            return list(runs)
        assert time.monotonic() < deadline, [(run.run_id, run.status) for run in runs]
        time.sleep(1)


@pytest.mark.long
def test_bucket_backfill_runs_in_parallel_on_postgres_storage_and_combines_into_the_whole_table(
    pg_db: PgDatabase, pg_db2: PgDatabase, storage_db: PgDatabase, tmp_path: Path
) -> None:
    pg_db.execute(ORDERS_DDL, ORDERS_ROWS)
    pg_db2.execute(ORDERS_DDL, ORDERS_ROWS, *ORDERS_DEFECTS)
    spec = tmp_path / "migration.yaml"
    spec.write_text(
        f"""version: 1
name: pg-buckets
source: {{url: "{pg_db.url}"}}
target: {{url: "{pg_db2.url}"}}
tables:
  - source: orders
    partitions: {BUCKETS}
reports:
  directory: {tmp_path / "reports"}
""",
        encoding="utf-8",
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        _dagster_yaml(storage_db.name, immediate_launch=True), encoding="utf-8"
    )

    launched = _backfill(spec, home, tmp_path)
    assert launched.returncode == 0, launched.stderr[-3000:]
    backfill = launched.stdout.rsplit("Launched backfill job `", 1)[1].split("`", 1)[0]

    keys = table_keys("orders")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = _finished_runs(instance, backfill)
        assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}
        assert sorted(run.tags["dagster/partition"] for run in runs) == [str(i) for i in range(BUCKETS)]
        # Runs are launched without waiting for each other: some of them ran at the same time.
        records = instance.get_run_records(filters=dg.RunsFilter(run_ids=[run.run_id for run in runs]))
        spans = sorted((r.start_time or 0, r.end_time or 0) for r in records)
        assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))
        for run in runs:
            messages = [event.message for event in instance.all_logs(run.run_id)]
            # Each run on the multiprocess executor, logging its bucket's progress.
            assert any("Multiprocess executor" in m for m in messages)
            bucket = run.tags["dagster/partition"]
            assert any(
                f"orders bucket {bucket} of 0..3: source " in m and " / ~750 rows" in m for m in messages
            )

        combined_run = (
            build(spec)
            .resolve_job_def("migration_check")
            .execute_in_process(instance=instance, asset_selection=[keys.reconciliation])
        )
        combined = combined_run.asset_value(keys.reconciliation)

    whole = whole_table(spec, "orders")
    assert summary(combined) == summary(whole)
    assert (whole.missing_rows, whole.extra_rows, whole.changed_rows) == (2, 1, 4)

    # The same facts read straight from the PostgreSQL tables dagster-postgres wrote.
    materialized = storage_db.query(
        "SELECT partition FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
        f"AND asset_key = '{bucket_key('orders').to_string()}' ORDER BY partition"
    )
    assert [row[0] for row in materialized] == [str(i) for i in range(BUCKETS)]
    (combined_events,) = storage_db.query(
        "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
        f"AND asset_key = '{keys.reconciliation.to_string()}' AND run_id = '{combined_run.run_id}'"
    )
    assert combined_events[0] == 1
    statuses = storage_db.query("SELECT status, count(*) FROM runs GROUP BY status")
    assert dict(statuses) == {"SUCCESS": BUCKETS + 1}  # type: ignore[arg-type]


def test_changed_target_rows_of_a_partitioned_postgres_table_are_rechecked_by_its_buckets(
    pg_db: PgDatabase, pg_db2: PgDatabase, tmp_path: Path
) -> None:
    """Buckets backfilled and combined, then 50 target rows updated: the drift sensor requests both
    buckets again, the bucket sensor asks for the combination once both are done, and the table's
    reconciliation counts the 50 rows."""
    pg_db.execute(ORDERS_DDL, ORDERS_ROWS)
    pg_db2.execute(ORDERS_DDL, ORDERS_ROWS, *ORDERS_DEFECTS)
    spec = tmp_path / "migration.yaml"
    spec.write_text(
        f"""version: 1
name: pg-recheck
source: {{url: "{pg_db.url}"}}
target: {{url: "{pg_db2.url}"}}
tables:
  - source: orders
    partitions: 2
reports:
  directory: {tmp_path / "reports"}
monitoring:
  drift: {{interval: 30s}}
""",
        encoding="utf-8",
    )
    defs = build(spec)
    keys = table_keys("orders")
    drift = defs.resolve_sensor_def("pm_drift_sensor")
    combine = defs.resolve_sensor_def("pm_bucket_runs")
    with dg.DagsterInstance.ephemeral() as instance:

        def tick(sensor: dg.SensorDefinition, cursor: str | None = None) -> Any:
            return sensor.evaluate_tick(
                dg.build_sensor_context(
                    instance=instance, cursor=cursor, definitions=defs, resources=defs.resources
                )
            )

        def execute(request: dg.RunRequest) -> Any:
            return execute_request(defs, instance, request)

        baseline = tick(drift)
        started = tick(combine)
        bucket_job = defs.resolve_job_def(bucket_job_name("orders"))
        for partition in ("0", "1"):
            assert bucket_job.execute_in_process(instance=instance, partition_key=partition).success
        (first,) = tick(combine, started.cursor).run_requests
        before = execute(first).asset_value(keys.reconciliation)
        assert (before.missing_rows, before.extra_rows, before.changed_rows) == (2, 1, 4)

        pg_db2.execute("UPDATE orders SET note = 'changed' WHERE id BETWEEN 100 AND 149")
        requests = tick(drift, baseline.cursor).run_requests
        assert [(r.job_name, r.partition_key) for r in requests] == [
            (bucket_job_name("orders"), "0"),
            (bucket_job_name("orders"), "1"),
        ]
        for request in requests:
            assert execute(request).success
        (second,) = tick(combine, started.cursor).run_requests
        after = execute(second).asset_value(keys.reconciliation)

    assert (after.missing_rows, after.extra_rows, after.changed_rows) == (2, 1, 54)
    assert summary(after) == summary(whole_table(spec, "orders"))
