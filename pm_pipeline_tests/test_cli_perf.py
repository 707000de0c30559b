"""`pm-pipeline perf` and the performance phase of `pm-pipeline check`: exit codes, the findings JSON
with its per-query figures, and one-line errors for a bad workload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pm_pipeline.cli import main
from pm_pipeline_tests.conftest import PgDatabase

ROWS = 20_000
TABLE = (
    "CREATE TABLE customers (id integer PRIMARY KEY, email text NOT NULL, city text NOT NULL)",
    f"INSERT INTO customers SELECT i, 'user' || i || '@example.com', 'city ' || (i % 30) "
    f"FROM generate_series(1, {ROWS}) i",
)
WORKLOAD = """
performance:
  repetitions: 6
  warmup: 1
  allow_hypopg: true
  workload:
    - name: login_by_email
      sql: "SELECT id FROM customers WHERE email = :email"
      params: {email: "user4242@example.com"}
    - name: by_id
      sql: "SELECT city FROM customers WHERE id = :id"
      params: {id: 7}
"""


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _spec(tmp_path: Path, source: str, target: str, extra: str = "") -> Path:
    path = tmp_path / "migration.yaml"
    path.write_text(
        f"name: perf\nsource: {{url: '{source}'}}\ntarget: {{url: '{target}'}}\n{extra}{WORKLOAD}"
    )
    return path


@pytest.mark.postgres
def test_perf_reports_a_lost_unique_index_and_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_db: PgDatabase, pg_db2: PgDatabase
) -> None:
    pg_db.execute(
        *TABLE, "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email)", "ANALYZE"
    )
    pg_db2.execute(*TABLE, "ANALYZE")
    out_json = tmp_path / "out" / "perf.json"
    code, out, err = _run(
        capsys, "perf", "--spec", str(_spec(tmp_path, pg_db.url, pg_db2.url)), "--json", str(out_json)
    )
    assert code == 1, err
    assert "plan_regression" in out and "FAIL" in out
    document = json.loads(out_json.read_text())
    assert document["schema_version"] == "2.2"
    assert document["verdict"]["state"] == "fail"
    found = {(f["query"], f["category"], f.get("column")) for f in document["findings"]}
    assert ("login_by_email", "plan_regression", "email") in found
    assert ("login_by_email", "index_advice", "email") in found
    assert {query for query, _, _ in found} == {"login_by_email"}
    reports = tmp_path / "reports"
    code, out, err = _run(
        capsys, "perf", "--spec", str(_spec(tmp_path, pg_db.url, pg_db2.url)), "--reports", str(reports)
    )
    assert code == 1, err
    per_query = json.loads((reports / "latest" / "performance.json").read_text())
    assert [q["query"] for q in per_query["queries"]] == ["login_by_email", "by_id"]
    html = (reports / "latest" / "report.html").read_text()
    assert "Performance workload" in html and "log scale" in html and "CONCURRENTLY" in html
    manifest = (reports / "latest" / "manifest.json").read_text()
    assert "performance.json" in manifest and "findings.json" in manifest
    figures = {q["query"]: q for q in document["performance"]["queries"]}
    assert figures["by_id"]["source"]["runs"] == 6
    assert figures["login_by_email"]["advice"][0]["proof"] == "proven"
    assert figures["login_by_email"]["target_plan"]["tables"][0]["access"] == "scan"


@pytest.mark.postgres
def test_check_runs_the_workload_as_a_phase_and_perf_passes_a_correct_target(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_db: PgDatabase, pg_db2: PgDatabase
) -> None:
    for db in (pg_db, pg_db2):
        db.execute(
            *TABLE, "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email)", "ANALYZE"
        )
    spec = _spec(tmp_path, pg_db.url, pg_db2.url, extra="tables: [{source: customers}]\n")
    code, out, err = _run(capsys, "perf", "--spec", str(spec))
    assert code == 0, out + err
    assert "PASS" in out
    pg_db2.execute(
        "UPDATE customers SET city = 'moved' WHERE id = 7"
    )  # a wrong value: by_id answers differently
    out_json = tmp_path / "check.json"
    code, out, err = _run(capsys, "check", "--spec", str(spec), "--no-integrity", "--json", str(out_json))
    assert code == 1, err
    categories = {
        (f["check"], f["category"], f.get("query")) for f in json.loads(out_json.read_text())["findings"]
    }
    assert ("performance", "result_mismatch", "by_id") in categories
    assert ("reconciliation", "value_mismatch", None) in categories


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--source", "sqlite:///a.db", "--target", "sqlite:///b.db"), "--query"),
        (("--source", "sqlite:///a.db", "--query", "SELECT 1"), "--source needs --target"),
        (
            ("--source", "sqlite:///a.db", "--target", "sqlite:///b.db", "--query", "SELECT :x"),
            ":x have no value",
        ),
    ],
)
def test_perf_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, _, err = _run(capsys, "perf", *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_perf_needs_a_performance_section(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text("source: {url: 'sqlite:///a.db'}\ntarget: {url: 'sqlite:///b.db'}\ndiscover: true\n")
    code, _, err = _run(capsys, "perf", "--spec", str(spec))
    assert code == 2
    assert "no 'performance' section" in err
