"""`pm-pipeline workspace`: one code location per tenant, each with only its own secrets and spec, runs tagged by tenant and source."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pm_pipeline.cli import main

PROBE = "import json, os; print(json.dumps({k: os.environ.get(k) for k in ('SHOP_DB', 'BILLING_DB', 'PM_SPEC', 'PM_TENANT')}))"


def _tenant(root: Path, name: str, variable: str, *, reads: str | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    database = folder / f"{name}.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
    (folder / "tenant.env").write_text(f"# {name}'s secrets\n{variable}={database}\n")
    url = f"sqlite:///${{{reads or variable}}}"
    (folder / "spec.yaml").write_text(
        yaml.safe_dump(
            {"name": name, "source": {"url": url}, "target": {"url": url}, "tables": [{"source": "items"}]}
        )
    )
    return database


@pytest.fixture
def tenants(tmp_path: Path) -> Path:
    root = tmp_path / "tenants"
    _tenant(root, "shop", "SHOP_DB")
    _tenant(root, "billing", "BILLING_DB")
    return root


def _probe(launcher: Path, tmp_path: Path) -> dict[str, object]:
    # The parent leaks both tenants' secrets, as a shared webserver's environment might.
    env = {
        **os.environ,
        "SHOP_DB": "leaked-shop",
        "BILLING_DB": "leaked-billing",
        "DAGSTER_HOME": str(tmp_path),
    }
    done = subprocess.run(
        [str(launcher), "-c", PROBE], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_each_location_sees_only_its_own_secrets_and_spec(
    tenants: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace, instance = tmp_path / "workspace.yaml", tmp_path / "dagster.yaml"
    instance.write_text("telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 4\n")
    code = main(["workspace", str(tenants), "--out", str(workspace), "--instance-config", str(instance),
                 "--runs-per-source", "1"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "2 code location(s)" in out
    locations = [entry["python_module"] for entry in yaml.safe_load(workspace.read_text())["load_from"]]
    assert [loc["location_name"] for loc in locations] == ["pm_billing", "pm_shop"]
    # Dagster itself reads the written instance: its run queue holds both limits.
    import dagster as dg

    with dg.DagsterInstance.from_config(str(tmp_path)) as loaded:
        limits = loaded.get_concurrency_config().run_queue_config.tag_concurrency_limits  # type: ignore[union-attr]
    assert {(limit["key"], limit["limit"]) for limit in limits} == {("pm/tenant", 2), ("pm/source", 1)}
    queue = yaml.safe_load(instance.read_text())["run_queue"]
    assert queue["max_concurrent_runs"] == 4
    assert {(limit["key"], limit["limit"]) for limit in queue["tag_concurrency_limits"]} == {
        ("pm/tenant", 2), ("pm/source", 1)
    }  # fmt: skip

    billing = _probe(Path(locations[0]["executable_path"]), tmp_path)
    assert billing["SHOP_DB"] is None and billing["BILLING_DB"] == str(
        (tenants / "billing" / "billing.db").resolve()
    )
    assert (
        billing["PM_SPEC"] == str((tenants / "billing" / "spec.yaml").resolve())
        and billing["PM_TENANT"] == "billing"
    )
    shop = _probe(Path(locations[1]["executable_path"]), tmp_path)
    assert shop["BILLING_DB"] is None and shop["SHOP_DB"] == str((tenants / "shop" / "shop.db").resolve())


def test_runs_are_tagged_by_tenant_and_source_without_secrets() -> None:
    from pm_pipeline.core.config import MigrationSpec, spec_from_mapping
    from pm_pipeline.defs.tenancy import tenant_tags

    def spec(password: str, host: str) -> MigrationSpec:
        url = f"postgresql://app:{password}@{host}/shop"
        return spec_from_mapping(
            {"source": {"url": url}, "target": {"url": url}, "tables": [{"source": "t"}]}
        )

    shop = tenant_tags(spec("s3cret-one", "db1"), {"PM_TENANT": "shop"})
    same_source = tenant_tags(spec("s3cret-two", "db1"), {"PM_TENANT": "billing"})
    other_source = tenant_tags(spec("s3cret-one", "db2"), {})
    assert shop["pm/tenant"] == "shop" and other_source["pm/tenant"] == "default"
    # One source database, one tag, whatever password each tenant uses: the queue limits it as one.
    assert shop["pm/source"] == same_source["pm/source"] != other_source["pm/source"]
    assert "s3cret" not in str([shop, same_source, other_source])


def test_tenants_load_as_their_own_locations_and_none_uses_another_tenants_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "tenants"
    _tenant(root, "shop", "SHOP_DB")
    _tenant(root, "ops", "OPS_DB")
    _tenant(root, "billing", "BILLING_DB", reads="SHOP_DB")  # billing's spec names shop's secret
    workspace = tmp_path / "workspace.yaml"
    assert main(["workspace", str(root), "--out", str(workspace)]) == 0
    capsys.readouterr()
    env = {**os.environ, "SHOP_DB": str(root / "shop" / "shop.db"), "DAGSTER_HOME": str(tmp_path)}
    env.pop("PM_SPEC", None)
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "--load-with-grpc", "-w", str(workspace)],
        env=env, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    # Every location was loaded by Dagster, each in its own process: shop's and ops' load, billing's
    # spec cannot read shop's secret even though the process that started them holds it.
    assert "environment variable SHOP_DB is not set" in output
    assert "Validation successful for code location pm_shop" in output, output[-3000:]
    assert "Validation successful for code location pm_ops" in output
    assert "Validation failed for code location pm_billing" in output


def test_bad_tenant_folders_are_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["workspace", str(tmp_path / "absent")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "Bad Name").mkdir()
    (tmp_path / "Bad Name" / "spec.yaml").write_text("name: x\n")
    assert main(["workspace", str(tmp_path)]) == 2
    assert "a tenant's name is lower-case" in capsys.readouterr().err
    (tmp_path / "Bad Name" / "spec.yaml").unlink()
    _tenant(tmp_path, "ok", "OK_DB")
    (tmp_path / "ok" / "tenant.env").write_text("not a variable line\n")
    assert main(["workspace", str(tmp_path), "--out", str(tmp_path / "w.yaml")]) == 2
    assert "tenant.env: line 1: expected NAME=value" in capsys.readouterr().err


def test_tenants_whose_names_differ_only_by_hyphen_and_underscore_are_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Both would put their assets under one key prefix (Dagster names have no '-').
    _tenant(tmp_path, "shop-eu", "SHOP_EU_DB")
    _tenant(tmp_path, "shop_eu", "SHOP_EU2_DB")
    assert main(["workspace", str(tmp_path), "--out", str(tmp_path / "w.yaml")]) == 2
    assert "differ only by '-' and '_'" in capsys.readouterr().err
    assert not (tmp_path / "w.yaml").exists()


def test_every_tenants_log_is_verified_with_its_own_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pm_pipeline.core.security.audit import AuditConfig, AuditLog

    root = tmp_path / "tenants"
    for name in ("shop", "billing"):
        _tenant(root, name, f"{name.upper()}_DB")
        key_env, key = f"{name.upper()}_AUDIT_KEY", f"{name}-key-" + "0" * 24
        with (root / name / "tenant.env").open("a") as env:
            env.write(f"{key_env}={key}\n")
        spec = yaml.safe_load((root / name / "spec.yaml").read_text())
        spec["audit"] = {"log": "audit.jsonl", "key_env": key_env, "require_key": True}
        (root / name / "spec.yaml").write_text(yaml.safe_dump(spec))
        monkeypatch.setenv(key_env, key)
        AuditLog(root / name / "audit.jsonl", config=AuditConfig(key_env=key_env)).append(
            "check.run", actor=name
        )
        monkeypatch.delenv(key_env)
    assert main(["workspace", str(root), "--out", str(tmp_path / "workspace.yaml")]) == 0
    capsys.readouterr()
    code = main(["audit", "verify", "--tenants", str(root)])
    out = capsys.readouterr().out
    assert code == 0 and "tenant billing: intact" in out and "tenant shop: intact" in out
    assert out.count("keyed: every record checked with HMAC-SHA256") == 2
    log = root / "billing" / "audit.jsonl"
    log.write_text(log.read_text().replace('"billing"', '"mallory"'))
    code = main(["audit", "verify", "--tenants", str(root)])
    out = capsys.readouterr().out
    assert code == 1 and "tenant billing: BROKEN" in out and "tenant shop: intact" in out
