"""The retention job prunes finished runs older than its age limit, with their event-log rows, from a
real instance (SQLite files, and dagster-postgres), and keeps the runs that hold the metric history
the anomaly detection reads and the latest materialization of every partition."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from pm_pipeline.core.monitor.metrics import MATCH_SCORE
from pm_pipeline.defs.monitoring import read_metric_history
from pm_pipeline.defs.retention import (
    RETENTION_JOB,
    RETENTION_SCHEDULE,
    RunAge,
    build_retention_defs,
    max_age_from_environment,
    prunable,
    prune_runs,
)
from pm_pipeline_tests.conftest import make_pg_database

HISTORY = 2
METRIC_KEY = dg.AssetKey(["verified", "orders"])
BUCKETS = dg.StaticPartitionsDefinition(["0", "1"])


@dg.asset(key=METRIC_KEY)
def metric_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult[None]:
    score = float(context.run.tags["score"])
    return dg.MaterializeResult(metadata={MATCH_SCORE: dg.MetadataValue.float(score)})


@dg.asset(key=["reconciliation_buckets", "orders"], partitions_def=BUCKETS)
def bucket_asset() -> None:
    return None


@dg.asset(key=["broken"])
def broken_asset() -> None:
    raise RuntimeError("a failed run with nothing worth keeping")


def _instance(home: Path, extra: str = "") -> dg.DagsterInstance:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n" + extra, encoding="utf-8")
    return dg.DagsterInstance.from_config(str(home))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def instance(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    if request.param == "sqlite":
        with _instance(tmp_path / "home") as local:
            yield local
        return
    from pm_pipeline_tests.test_dagster_postgres import _dagster_yaml

    for database in make_pg_database():
        storage = _dagster_yaml(database.name).removeprefix("telemetry:\n  enabled: false\n")
        with _instance(tmp_path / "home", storage) as on_postgres:
            yield on_postgres


def _history(instance: dg.DagsterInstance) -> list[float]:
    return [p.values[MATCH_SCORE] for p in read_metric_history(instance, METRIC_KEY, limit=100)]


def _run_ids(instance: dg.DagsterInstance) -> set[str]:
    return {r.dagster_run.run_id for r in instance.get_run_records()}


def test_old_runs_go_and_the_metric_history_and_latest_partitions_stay(instance: dg.DagsterInstance) -> None:
    scores = [0.91, 0.92, 0.93]
    for score in scores:
        dg.materialize([metric_asset], instance=instance, tags={"score": str(score)})
    # Bucket 1 once, then bucket 0 three times: bucket 1's only run is older than the asset's last
    # HISTORY materializations, yet holds that partition's latest result; bucket 0's first run goes.
    bucket_runs = [
        dg.materialize([bucket_asset], instance=instance, partition_key=key).run_id
        for key in ("1", "0", "0", "0")
    ]
    failed = dg.materialize([broken_asset], instance=instance, raise_on_error=False)
    assert not failed.success
    before = _run_ids(instance)
    assert len(before) == len(scores) + len(bucket_runs) + 1

    # Nothing is old yet: a 90-day limit deletes nothing.
    assert prune_runs(instance, max_age_days=90, history=HISTORY).deleted == ()
    assert _run_ids(instance) == before

    # A hundred days on, every run is past the limit: only what the history and partitions need stays.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=100)
    pruning = prune_runs(instance, max_age_days=90, history=HISTORY, now=later)
    kept = _run_ids(instance)
    assert len(pruning.deleted) == len(before) - len(kept)
    assert failed.run_id not in kept
    assert _history(instance) == scores[-HISTORY:]
    assert set(bucket_runs) & kept == {bucket_runs[0], *bucket_runs[-HISTORY:]}
    assert len(kept) == HISTORY + HISTORY + 1
    # Their event-log rows went with them: no event of a deleted run is left.
    for run_id in pruning.deleted:
        assert instance.all_logs(run_id) == []
    assert pruning.kept_for_history == len(kept)


def test_the_job_runs_on_the_instance_with_its_configured_age(tmp_path: Path) -> None:
    job, schedule = build_retention_defs(history=HISTORY, max_age_days=30)
    assert (job.name, schedule.name) == (RETENTION_JOB, RETENTION_SCHEDULE)
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    with _instance(tmp_path / "home") as local:
        dg.materialize([broken_asset], instance=local, raise_on_error=False)
        result = job.execute_in_process(instance=local)
        assert result.success
        # The failed run is a minute old, not 30 days: it stays.
        assert len(_run_ids(local)) == 2
        messages = [e.message for e in local.all_logs(result.run_id) if e.message]
        assert any("deleted 0 run(s) older than 30 days" in m for m in messages)
        refused = job.execute_in_process(
            instance=local,
            run_config={"ops": {"prune_old_runs": {"config": {"max_age_days": 0}}}},
            raise_on_error=False,
        )
        assert not refused.success


def test_prunable_keeps_young_and_needed_runs_oldest_first() -> None:
    cutoff = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    runs = [
        RunAge("b", cutoff - dt.timedelta(days=2)),
        RunAge("a", cutoff - dt.timedelta(days=9)),
        RunAge("kept", cutoff - dt.timedelta(days=30)),
        RunAge("young", cutoff + dt.timedelta(seconds=1)),
    ]
    assert prunable(runs, keep={"kept"}, cutoff=cutoff) == ["a", "b"]


@pytest.mark.parametrize(
    ("value", "days"),
    [("", 90), ("14", 14), ("365", 365)],
)
def test_the_age_limit_comes_from_the_environment(value: str, days: int) -> None:
    assert max_age_from_environment({"PM_RETENTION_DAYS": value} if value else {}) == days


@pytest.mark.parametrize("value", ["0", "-3", "ten", "1.5"])
def test_a_bad_age_limit_names_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="PM_RETENTION_DAYS"):
        max_age_from_environment({"PM_RETENTION_DAYS": value})
