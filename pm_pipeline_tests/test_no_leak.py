"""No classified value above the reports' clearance and no password reaches any byte a check writes:
the CLI's report set (every format), a Dagster materialisation's instance (SQLite run storage, event
logs, pickled step outputs), temporary folders, the audit log, stdout and stderr."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from pm_pipeline_tests.conftest import PG_HOST, PG_PORT, PgDatabase, make_pg_database
from pm_pipeline_tests.leak_search import files_under, hits, text_hits
from pm_pipeline_tests.test_definitions import build, create_instance_home, definitions_module

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")

TOKEN = f"cnry{uuid.uuid4().hex[:10]}"  # in every classified value
PASSWORD_TOKEN = f"pwcnry{uuid.uuid4().hex[:10]}"
PASSWORD = f"k#/?@:%{PASSWORD_TOKEN}"
CONTROL = f"ctl{uuid.uuid4().hex[:10]}"  # an unclassified column's value, which reports do show
ROLE = f"pm_leak_{uuid.uuid4().hex[:8]}"
NEEDLES = (TOKEN, PASSWORD_TOKEN, PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD))

DDL = "CREATE TABLE customers (email text PRIMARY KEY, full_name text, ssn text, tier text, city text)"
# An order whose customer the target lost: an orphan, whose message names the classified parent key.
ORDERS = (
    "CREATE TABLE orders (id int PRIMARY KEY, email text {}, total int)",
    f"INSERT INTO orders VALUES (1, '{TOKEN}-2@example.org', 5), (2, '{TOKEN}-1@example.org', 6)",
)


def _rows(*, target: bool) -> str:
    rows = []
    for i in range(1, 8):
        email, name, ssn = f"{TOKEN}-{i}@example.org", f"{TOKEN} Name {i}", f"{TOKEN}-ssn-{i}"
        tier, city = f"{TOKEN}-{'gold' if i % 2 else 'silver'}", f"city-{i}"
        if target:
            # The target lost row 1, gained row 7, and changed a value in every kind of column.
            if i == 1:
                continue
            name = f"{TOKEN} Renamed" if i == 3 else name
            ssn = f"{TOKEN}-ssn-changed" if i == 4 else ssn
            tier = f"{TOKEN}-platinum" if i == 5 else tier
            city = f"{CONTROL}-moved" if i == 2 else city
        elif i == 7:
            continue
        rows.append(f"('{email}', '{name}', '{ssn}', '{tier}', '{city}')")
    return "INSERT INTO customers VALUES " + ", ".join(rows)


@pytest.fixture(scope="module")
def migration(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PgDatabase, PgDatabase]]:
    sources, targets = make_pg_database(), make_pg_database()
    source, target = next(sources), next(targets)
    source.execute(DDL, _rows(target=False), f"CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
    source.execute(ORDERS[0].format("REFERENCES customers (email)"), ORDERS[1])
    target.execute(DDL, _rows(target=True), ORDERS[0].format(""), ORDERS[1])
    try:
        yield source, target
    finally:
        source.execute(f"DROP ROLE IF EXISTS {ROLE}")
        for created in (sources, targets):
            created.close()


def _spec(directory: Path, source: PgDatabase, target: PgDatabase) -> Path:
    spec = directory / "leak.yaml"
    spec.write_text(
        f"""version: 1
name: leak-hunt
source:
  url: "postgresql://{ROLE}:${{PM_LEAK_PASSWORD}}@{PG_HOST}:{PG_PORT}/{source.name}"
target:
  url: "postgresql://{ROLE}:${{PM_LEAK_PASSWORD}}@{PG_HOST}:{PG_PORT}/{target.name}"
tables:
  - source: customers
    key: [email]
    columns:
      email: {{classification: confidential}}
      full_name: {{classification: restricted}}
      ssn: {{classification: confidential}}
      tier: {{classification: restricted}}
  - source: orders
    columns:
      email: {{classification: confidential}}
reports:
  directory: {directory / "reports"}
  clearance: internal
integrity:
  expectations:
    customers:
      - {{type: expect_column_values_to_match_regex, column: ssn, regex: "^[0-9]{{3}}-[0-9]{{2}}-[0-9]{{4}}$"}}
      - {{type: expect_column_values_to_be_in_set, column: full_name, value_set: [nobody]}}
      - {{type: expect_column_values_to_be_in_set, column: city, value_set: [nowhere]}}
audit:
  log: {directory / "audit" / "leak.jsonl"}
""",
        encoding="utf-8",
    )
    return spec


def _environment(tmp: Path) -> dict[str, str]:
    tmp.mkdir(parents=True, exist_ok=True)
    return {
        "PM_LEAK_PASSWORD": quote(PASSWORD, safe=""),
        "PM_AUDIT_KEY": "leak-test-audit-key",
        "TMPDIR": str(tmp),
    }


def test_the_password_reaches_the_product(
    migration: tuple[PgDatabase, PgDatabase], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without it, the search below would prove nothing about the password.
    from pm_pipeline.core.config import load_spec
    from pm_pipeline.core.connectors import open_endpoint

    for name, value in _environment(tmp_path / "tmp").items():
        monkeypatch.setenv(name, value)
    spec = load_spec(_spec(tmp_path, *migration))
    connector = open_endpoint(spec.source)
    try:
        assert connector.url.password == PASSWORD
        assert connector.url.user == ROLE
    finally:
        connector.close()


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **_environment(tmp_path / "tmp"), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "pm_pipeline.cli", "--debug", *args],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip


def test_the_cli_leaks_nothing(migration: tuple[PgDatabase, PgDatabase], tmp_path: Path) -> None:
    source, target = migration
    spec = _spec(tmp_path, source, target)
    reports = tmp_path / "cli_reports"
    check = _cli(tmp_path, "check", "--spec", str(spec), "--reports", str(reports), "--no-progress")
    assert check.returncode == 1, check.stderr[-3000:]
    # The performance workload reads the classified columns and prints its plans.
    url = f"postgresql://{ROLE}:{quote(PASSWORD, safe='')}@{PG_HOST}:{PG_PORT}"
    perf = _cli(tmp_path, "perf", "--source", f"{url}/{source.name}", "--target", f"{url}/{target.name}",
                "--query", "SELECT email, full_name, ssn FROM customers ORDER BY email", "--repetitions", "3",
                "--reports", str(tmp_path / "perf_reports"))  # fmt: skip
    assert perf.returncode in (0, 1), perf.stderr[-3000:]
    # A failure prints the URL (and with --debug, a traceback).
    lost = _cli(tmp_path, "check", "--source", f"{url}/{source.name}", "--target", f"{url}/{target.name}_gone",
                "--no-reports", "--no-progress")  # fmt: skip
    assert lost.returncode in (2, 3), lost.stderr[-3000:]
    found = hits(NEEDLES, tmp_path)
    for name, done in (("check", check), ("perf", perf), ("unreachable", lost)):
        found += text_hits(NEEDLES, done.stdout, f"{name} stdout") + text_hits(
            NEEDLES, done.stderr, f"{name} stderr"
        )
    assert not found, "\n".join(found)
    _assert_the_search_sees_reported_values(reports / "latest")
    assert not files_under(tmp_path / "tmp"), "temporary files left behind"
    assert (tmp_path / "audit" / "leak.jsonl").stat().st_size > 0  # searched above
    # Data Docs would show the raw samples of the suite's classified columns.
    assert not (reports / "latest" / "data-docs").exists()


def _assert_the_search_sees_reported_values(reports: Path) -> None:
    # The unclassified column's difference is in every format that lists values: the search reads them.
    for name in ("findings.json", "report.html", "report.xlsx", "findings-csv/value_mismatch.csv",
                 "findings.parquet", "diffs/customers/changed_cells.parquet"):  # fmt: skip
        assert hits([CONTROL], reports / name), name
    # And the classified differences were reported, masked: values, keys, samples, an orphan's parent.
    document = json.loads((reports / "findings.json").read_text(encoding="utf-8"))
    categories = {f["category"] for f in document["findings"] if "***" in json.dumps(f)}
    assert {"missing_row", "extra_row", "value_mismatch", "expectation_failed", "orphan_row"} <= categories


def test_a_dagster_materialisation_leaks_nothing(
    migration: tuple[PgDatabase, PgDatabase],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    import dagster as dg

    spec = _spec(tmp_path, *migration)
    for name, value in _environment(tmp_path / "tmp").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(tempfile, "tempdir", None)
    home = tmp_path / "dagster_home"
    create_instance_home(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # A second run whose target is gone: its failure events carry the URL and the error chain.
    source, target = migration
    gone = tmp_path / "gone"
    gone.mkdir()
    lost_spec = _spec(gone, source, PgDatabase(name=f"{target.name}_gone", url=""))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result, lost = (
            build(path)
            .resolve_job_def(definitions_module(path).MAIN_JOB)
            .execute_in_process(instance=instance, raise_on_error=False)
            for path in (spec, lost_spec)
        )
    out, err = capfd.readouterr()
    assert result.run_id and not lost.success
    assert any(f":***@{PG_HOST}" in repr(event) for event in lost.all_events)  # the URL, masked
    assert any(p.name == "findings.json" for p in files_under(tmp_path / "reports"))
    assert any(p.parent.name == result.run_id or "storage" in p.parts for p in files_under(home))
    found = hits(NEEDLES, tmp_path) + text_hits(NEEDLES, out, "stdout") + text_hits(NEEDLES, err, "stderr")
    for event in (*result.all_events, *lost.all_events):
        found += text_hits(NEEDLES, repr(event), f"event {event.event_type_value}")
    assert not found, "\n".join(sorted(set(found)))
    # The stored step outputs do hold the unclassified difference: the search reads the pickles.
    assert hits([CONTROL], home / "storage" / "reconciliation" / "customers")
    assert not files_under(tmp_path / "tmp"), "temporary files left behind"


def test_a_terminated_check_leaves_no_temporary_files(tmp_path: Path) -> None:
    # The reconciliation's work folder holds rows as read; a cancelled CI job must not leave it behind.
    sources, targets = make_pg_database(), make_pg_database()
    source, target = next(sources), next(targets)
    try:
        for side in (source, target):
            side.execute(
                "CREATE TABLE big (id int PRIMARY KEY, payload text)",
                "INSERT INTO big SELECT i, md5(i::text) FROM generate_series(1, 400000) AS i",
            )
        tmp = tmp_path / "tmp"
        env = {**os.environ, **_environment(tmp)}
        process = subprocess.Popen(
            [sys.executable, "-m", "pm_pipeline.cli", "check", "--source", source.url, "--target", target.url,
             "--strategy", "arrow", "--no-integrity", "--no-reports", "--no-progress"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        with process:
            deadline = time.monotonic() + 60
            while not any(tmp.iterdir()) and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            try:
                assert any(tmp.iterdir()), "the check ended before it wrote a temporary file"
                process.send_signal(signal.SIGTERM)
                _, err = process.communicate(timeout=60)
            finally:
                process.kill()  # a no-op once it has exited; never leave a check running
        assert process.returncode == 3, err[-2000:]
        assert "interrupted" in err
        assert not list(tmp.iterdir()), "temporary files left behind"
    finally:
        for created in (sources, targets):
            created.close()


def test_a_refused_workload_query_quotes_no_classified_parameter(tmp_path: Path) -> None:
    # The target refuses a parameter drawn from a classified column; its error message quotes it.
    sources, targets = make_pg_database(), make_pg_database()
    source, target = next(sources), next(targets)
    try:
        source.execute(
            "CREATE TABLE customers (id int PRIMARY KEY, ssn text)",
            f"INSERT INTO customers VALUES (1, '{TOKEN}-0001'), (2, '{TOKEN}-0002')",
        )
        target.execute(
            "CREATE TABLE customers (id int PRIMARY KEY, ssn bigint)",
            "INSERT INTO customers VALUES (1, 1230001), (2, 1230002)",
        )
        spec = tmp_path / "refused.yaml"
        spec.write_text(
            f"""version: 1
source: {{url: "{source.url}"}}
target: {{url: "{target.url}"}}
tables:
  - source: customers
    columns:
      ssn: {{classification: restricted}}
reports: {{clearance: internal}}
performance:
  repetitions: 3
  workload:
    - name: by_ssn
      sql: "SELECT id FROM customers WHERE ssn = :ssn"
      sample: {{sql: "SELECT ssn FROM customers ORDER BY id"}}
""",
            encoding="utf-8",
        )
        perf = _cli(tmp_path, "perf", "--spec", str(spec), "--reports", str(tmp_path / "reports"),
                    "--json", str(tmp_path / "perf.json"))  # fmt: skip
    finally:
        for created in (sources, targets):
            created.close()
    assert perf.returncode == 1, perf.stderr[-3000:]
    found = hits(NEEDLES, tmp_path) + text_hits(NEEDLES, perf.stdout, "stdout")
    found += text_hits(NEEDLES, perf.stderr, "stderr")
    assert not found, "\n".join(found)
    # The finding is still there, with the error's code.
    document = json.loads((tmp_path / "perf.json").read_text(encoding="utf-8"))
    assert [f["rule"] for f in document["findings"]] == ["target_refused"]
    assert "SQLSTATE 22P02" in document["findings"][0]["message"]
