"""Two tenants' code locations in one instance: every asset key, check key, job, sensor and schedule name
carries its tenant, none is shared, each tenant's report history holds only its own runs, and its
alert sensors and retention job read and prune only its own runs."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pm_pipeline.definitions import MAIN_JOB, build_definitions
from pm_pipeline.defs.assets.reports import REPORT_KEY

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
TENANTS = {"shop": "orders", "billing-eu": "invoices"}


def _spec(folder: Path, *, name: str, table: str) -> Path:
    """A spec comparing a small SQLite table with itself, with a bucketed table, a schedule, drift
    and a workload, so that every kind of key and name the location builds is present."""
    folder.mkdir(parents=True)
    database = folder / f"{table}.db"
    with sqlite3.connect(database) as connection:
        for name_ in (table, "ledger"):
            connection.execute(f"CREATE TABLE {name_} (id INTEGER PRIMARY KEY, label TEXT NOT NULL)")
            connection.executemany(f"INSERT INTO {name_} VALUES (?, ?)", [(i, f"row-{i}") for i in range(50)])
    url = f"sqlite:///{database}"
    spec = folder / "spec.yaml"
    spec.write_text(
        f"name: {name}\nsource: {{url: '{url}'}}\ntarget: {{url: '{url}'}}\n"
        f"tables:\n  - source: {table}\n  - source: ledger\n    partitions: 2\n"
        f"reports: {{directory: '{folder / 'reports'}'}}\n"
        "monitoring:\n  drift: {interval: 30s}\n  schedules:\n    - {name: nightly, cron: '0 2 * * *', target: all}\n"
        "performance:\n  repetitions: 3\n  schedule: '*/30 * * * *'\n"
        f"  workload:\n    - {{name: one, sql: 'SELECT id FROM {table} WHERE id = 1'}}\n",
        encoding="utf-8",
    )
    return spec


def _names(defs: dg.Definitions) -> dict[str, set[str]]:
    repository = defs.get_repository_def()
    return {
        "assets": {key.to_user_string() for key in defs.resolve_all_asset_keys()},
        "checks": {key.to_user_string() for key in defs.resolve_asset_graph().asset_check_keys},
        "jobs": {job.name for job in repository.get_all_jobs() if not job.name.startswith("__")},
        "sensors": {sensor.name for sensor in repository.sensor_defs},
        "schedules": {schedule.name for schedule in repository.schedule_defs},
    }


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dg.Definitions]:
    """Each tenant's definitions, built as its code location builds them: with PM_TENANT set."""
    root = tmp_path_factory.mktemp("tenant_keys")
    built: dict[str, dg.Definitions] = {}
    with pytest.MonkeyPatch.context() as patch:
        for tenant, table in TENANTS.items():
            patch.setenv("PM_TENANT", tenant)
            built[tenant] = build_definitions(_spec(root / tenant, name=tenant, table=table))
    return built


def test_every_key_and_name_carries_its_tenant_and_none_is_shared(tenants: dict[str, dg.Definitions]) -> None:
    shop, billing = _names(tenants["shop"]), _names(tenants["billing-eu"])
    for kind in shop:
        assert shop[kind] and billing[kind], kind
        assert not shop[kind] & billing[kind], kind
    # A tenant name Dagster would refuse (a hyphen) is spelled with an underscore.
    for tenant, names, prefix in (("shop", shop, "shop"), ("billing-eu", billing, "billing_eu")):
        assert all(key.startswith(f"{prefix}/") for key in names["assets"] | names["checks"]), names
        assert all(
            name.startswith(f"{prefix}__")
            for kind in ("jobs", "sensors", "schedules")
            for name in names[kind]
        ), names
        assert f"{prefix}/{REPORT_KEY.to_user_string()}" in names["assets"], tenant
        assert f"{prefix}__{MAIN_JOB}" in names["jobs"], tenant


def test_the_main_job_selects_its_own_tenants_assets(tenants: dict[str, dg.Definitions]) -> None:
    job = tenants["shop"].resolve_job_def(f"shop__{MAIN_JOB}")
    keys = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
    assert {"shop/reconciliation/orders", "shop/verified/orders", "shop/reports/migration_report"} <= keys
    assert all(key.startswith("shop/") for key in keys), keys


def test_every_job_reading_the_source_carries_its_tenants_tag(tenants: dict[str, dg.Definitions]) -> None:
    # The run queue limits runs per tenant and per source by these tags: a bucket or workload run
    # without them would escape both limits.
    for tenant, defs in tenants.items():
        prefix = tenant.replace("-", "_")
        for job in (f"{MAIN_JOB}", "reconcile_ledger_buckets", "performance_workload"):
            tags = defs.resolve_job_def(f"{prefix}__{job}").tags
            assert tags.get("pm/tenant") == tenant and tags.get("pm/source", "").startswith("src-"), (
                job,
                tags,
            )


def test_each_tenants_report_history_holds_only_its_own_runs(
    tenants: dict[str, dg.Definitions], tmp_path: Path
) -> None:
    runs: dict[str, list[str]] = {}
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path)) as instance:
        # shop twice, billing once, interleaved: each report must list exactly its tenant's runs.
        for tenant in ("shop", "billing-eu", "shop"):
            prefix = tenant.replace("-", "_")
            job = tenants[tenant].resolve_job_def(f"{prefix}__{MAIN_JOB}")
            result: Any = job.execute_in_process(instance=instance, raise_on_error=False)
            runs.setdefault(prefix, []).append(result.run_id)
        for prefix, own in runs.items():
            records = instance.fetch_materializations(
                dg.AssetKey([prefix, *REPORT_KEY.path]), limit=10
            ).records
            assert sorted(record.run_id for record in records) == sorted(own), prefix
        # The untenanted key a single-tenant instance uses holds nothing here.
        assert not instance.fetch_materializations(REPORT_KEY, limit=1).records


def _tenant_assets(tenant: str) -> tuple[dg.AssetsDefinition, dg.JobDefinition]:
    """An asset whose check fails, and a job that fails, under ``tenant``'s key and name."""
    key = dg.AssetKey([tenant, "reconciliation", "orders"])

    @dg.asset(key=key, check_specs=[dg.AssetCheckSpec("rows_match", asset=key)])
    def orders() -> dg.MaterializeResult:
        return dg.MaterializeResult(
            check_results=[dg.AssetCheckResult(check_name="rows_match", passed=False)]
        )

    @dg.op(name=f"{tenant}_boom")
    def boom() -> None:
        raise RuntimeError("planned failure")

    @dg.job(name=f"{tenant}__nightly")
    def nightly() -> None:
        boom()

    return orders, nightly


def _alert_sensors(patch: pytest.MonkeyPatch, tenant: str) -> tuple[dg.SensorDefinition, dg.SensorDefinition]:
    from pm_pipeline.core.config.loader import spec_from_mapping
    from pm_pipeline.core.config.monitoring import parse_monitoring
    from pm_pipeline.defs.monitoring import build_monitoring_defs

    patch.setenv("PM_TENANT", tenant)
    spec = spec_from_mapping(
        {
            "source": {"url": "sqlite:///a.db"},
            "target": {"url": "sqlite:///b.db"},
            "tables": [{"source": "orders"}],
        }
    )
    settings = parse_monitoring(
        {
            # Where the notice goes does not matter here: the sensors' state says what fired.
            "notifiers": {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/", "retries": 0}},
            "rules": [
                {"name": "checks", "condition": {"kind": "check_failed"}, "notify": ["hook"]},
                {"name": "runs", "condition": {"kind": "run_failed"}, "notify": ["hook"]},
            ],
        },
        file="spec.yaml",
    )
    _drift, runs, checks = build_monitoring_defs(
        spec, settings, table_assets={"orders": dg.AssetKey([tenant, "reconciliation", "orders"])}
    )
    assert isinstance(runs, dg.SensorDefinition) and isinstance(checks, dg.SensorDefinition)
    return runs, checks


def _firing(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None) -> set[str]:
    from pm_pipeline.core.monitor.alerts import AlertState

    tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))
    return set(AlertState.from_json(json.loads(tick.cursor or "{}")["state"]).conditions)


def test_alert_sensors_read_only_their_own_tenants_runs_and_checks() -> None:
    with pytest.MonkeyPatch.context() as patch, dg.DagsterInstance.ephemeral() as instance:
        runs, checks = _alert_sensors(patch, "shop")
        run_start = runs.evaluate_tick(dg.build_sensor_context(instance=instance)).cursor
        # billing's failing check and failing job, in the same instance, are no news for shop ...
        billing_orders, billing_nightly = _tenant_assets("billing")
        dg.materialize([billing_orders], instance=instance, raise_on_error=False)
        billing_nightly.execute_in_process(instance=instance, raise_on_error=False)
        assert _firing(checks, instance, None) == set()
        assert _firing(runs, instance, run_start) == set()
        # ... while shop's own are, through its job and through an ad-hoc materialization alike.
        shop_orders, shop_nightly = _tenant_assets("shop")
        dg.materialize([shop_orders], instance=instance, raise_on_error=False)
        shop_nightly.execute_in_process(instance=instance, raise_on_error=False)
        assert _firing(checks, instance, None) == {"checks|orders"}
        assert _firing(runs, instance, run_start) == {"runs|shop__nightly"}


def test_retention_prunes_only_its_own_tenants_runs() -> None:
    from pm_pipeline.defs.retention import prune_runs

    with dg.DagsterInstance.ephemeral() as instance:
        shop = [
            _tenant_assets("shop")[1].execute_in_process(instance=instance, raise_on_error=False)
            for _ in "ab"
        ]
        billing = _tenant_assets("billing")[1].execute_in_process(instance=instance, raise_on_error=False)
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=200)
        pruning = prune_runs(instance, max_age_days=90, history=1, now=later, tenant="shop")
        assert sorted(pruning.deleted) == sorted(result.run_id for result in shop)
        assert [record.dagster_run.run_id for record in instance.get_run_records()] == [billing.run_id]
