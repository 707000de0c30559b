"""On Dagster, a check stopped by an SQL error fails only its table's integrity_ok check as incomplete;
the other tables pass and the report is still written with the verdict incomplete."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from pm_pipeline_tests.test_definitions import TABLES, build, clean_spec, demo_copy

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")


def test_a_rule_with_an_sql_error_leaves_its_table_incomplete(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    paths = demo_copy(tmp_path_factory.getbasetemp(), tmp_path_factory.mktemp("check_error"))
    spec = clean_spec(paths)
    # A correct migration, and one declared rule whose SQL the database rejects (a typo).
    spec.write_text(
        spec.read_text(encoding="utf-8")
        + 'integrity:\n  rules:\n    - {name: typo, table: customers, check: "email LIKE"}\n',
        encoding="utf-8",
    )
    result = (
        build(spec)
        .resolve_job_def("migration_check")
        .execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    )
    assert not result.success
    checks = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    failed = {key: e for key, e in checks.items() if not e.passed}
    assert list(failed) == [("verified/customers", "integrity_ok")]
    description = failed[("verified/customers", "integrity_ok")].description or ""
    assert description.startswith("incomplete: integrity check rule typo on customers could not run")
    assert all(checks[(f"verified/{t}", "integrity_ok")].passed for t in TABLES if t != "customers")

    findings = json.loads(
        (paths.directory / "clean_reports" / "latest" / "findings.json").read_text(encoding="utf-8")
    )
    assert findings["verdict"]["state"] == "incomplete"
    assert findings["verdict"]["incomplete_checks"] == ["integrity: rule typo on customers"]
