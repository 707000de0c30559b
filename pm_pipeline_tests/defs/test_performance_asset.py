"""The performance workload asset: built from a spec's performance section, its job materializes
latency figures as metadata and its latency_ok check fails on a target that lost an index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg
import pytest

from pm_pipeline.definitions import build_definitions
from pm_pipeline.defs.assets.performance import LATENCY_OK, PERFORMANCE_JOB, PERFORMANCE_KEY

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")


def _sqlite(path: Path, *, index: bool) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, city TEXT)")
        conn.executemany(
            "INSERT INTO customers VALUES (?, ?, ?)",
            [(i, f"user{i}@example.com", f"city {i % 20}") for i in range(1, 5001)],
        )
        if index:
            conn.execute("CREATE UNIQUE INDEX customers_email_key ON customers (email)")
    return f"sqlite:///{path}"


def _spec(tmp_path: Path, *, target_index: bool) -> Path:
    source = _sqlite(tmp_path / "source.db", index=True)
    target = _sqlite(tmp_path / "target.db", index=target_index)
    spec = tmp_path / "migration.yaml"
    spec.write_text(
        f"name: perf\nsource: {{url: '{source}'}}\ntarget: {{url: '{target}'}}\n"
        "tables: [{source: customers}]\n"
        "performance:\n"
        "  repetitions: 5\n"
        "  schedule: '*/30 * * * *'\n"
        "  workload:\n"
        "    - {name: login, sql: 'SELECT id FROM customers WHERE email = :email', params: {email: user42@example.com}}\n",
        encoding="utf-8",
    )
    return spec


@pytest.mark.parametrize("target_index", [True, False])
def test_the_workload_asset_records_latency_and_checks_it(tmp_path: Path, target_index: bool) -> None:
    defs = build_definitions(_spec(tmp_path, target_index=target_index))
    assert defs.resolve_schedule_def(f"{PERFORMANCE_JOB}_schedule").cron_schedule == "*/30 * * * *"
    result = defs.resolve_job_def(PERFORMANCE_JOB).execute_in_process(raise_on_error=False)
    (materialization,) = [
        m for m in result.get_asset_materialization_events() if m.asset_key == PERFORMANCE_KEY
    ]
    metadata = {k: v.value for k, v in materialization.materialization.metadata.items()}
    assert metadata["queries"] == 1
    assert metadata["login/source_p50_ms"] > 0 and metadata["login/target_p50_ms"] > 0
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == LATENCY_OK]
    # The target that lost the unique index scans where the source searched it: the check fails.
    assert evaluation.passed is target_index
    if not target_index:
        assert "plan_regression" in str(evaluation.metadata["failing"].value)


def test_a_spec_without_a_workload_has_no_performance_asset(tmp_path: Path) -> None:
    spec = _spec(tmp_path, target_index=True)
    spec.write_text(spec.read_text().split("performance:")[0], encoding="utf-8")
    defs = build_definitions(spec)
    assert PERFORMANCE_KEY not in {
        key for a in defs.assets or () if isinstance(a, dg.AssetsDefinition) for key in a.keys
    }
