"""The pm-pipeline command: exit codes, one-line errors for bad input, masked passwords, no-spec checks."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pm_pipeline.cli import main
from pm_pipeline_tests.conftest import MyDatabase, PgDatabase

SECRET = "s3cr3t-Pa55"


def _sqlite(path: Path, *statements: str) -> str:
    connection = sqlite3.connect(path)
    connection.executescript(";\n".join(statements))
    connection.commit()
    connection.close()
    return f"sqlite:///{path}"


def _duck(path: Path, *statements: str) -> str:
    connection = duckdb.connect(str(path))
    for statement in statements:
        connection.execute(statement)
    connection.close()
    return f"duckdb:///{path}"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _spec(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def pair(tmp_path: Path) -> tuple[str, str]:
    ddl = "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(20), price DECIMAL(8,2))"
    source = _sqlite(tmp_path / "s.db", ddl, "INSERT INTO items VALUES (1,'a','1.50'),(2,'b','2.00')")
    # A correct migration keeps the id generator: SQLite's INTEGER PRIMARY KEY hands out ids.
    target = _duck(
        tmp_path / "t.duckdb",
        "CREATE SEQUENCE items_id START 3",
        "CREATE TABLE items (id BIGINT PRIMARY KEY DEFAULT nextval('items_id'), name VARCHAR(20), price DECIMAL(8,2))",
        "INSERT INTO items VALUES (1,'a',1.50),(2,'b',2.00)",
    )
    return source, target


def test_matching_pair_exits_0_and_writes_findings_json(
    pair: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "out" / "findings.json"
    code, out, _ = _run(capsys, "check", "--source", pair[0], "--target", pair[1], "--json", str(out_json))
    assert code == 0, out
    assert "PASS" in out
    document = json.loads(out_json.read_text())
    assert document["schema_version"]
    assert [f for f in document["findings"] if f["severity"] == "error"] == []


def test_integrity_checks_draw_no_progress_bars_of_their_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The Great Expectations suite runs on a SQLite target by default; its per-validation
    # progress bars would fill stderr around the CLI's own output.
    ddl = "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(20))"
    rows = "INSERT INTO items VALUES (1, 'a'), (2, 'b')"
    source, target = _sqlite(tmp_path / "s.db", ddl, rows), _sqlite(tmp_path / "t.db", ddl, rows)
    out_json = tmp_path / "findings.json"
    code, out, err = _run(capsys, "check", "--source", source, "--target", target, "--json", str(out_json))
    assert code == 0, out + err
    assert json.loads(out_json.read_text())["schema_version"]
    assert "Calculating Metrics" not in err and "it/s" not in err


def test_differences_exit_1_with_categories_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _sqlite(tmp_path / "s.db", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
                     "INSERT INTO t VALUES (1,'x'),(2,'y'),(3,'z')")  # fmt: skip
    target = _duck(tmp_path / "t.duckdb", "CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR)",
                   "INSERT INTO t VALUES (1,'x'),(2,'Y'),(4,'w')")  # fmt: skip
    out_json = tmp_path / "f.json"
    code, _out, _ = _run(capsys, "check", "--source", source, "--target", target, "--json", str(out_json))
    assert code == 1
    findings = json.loads(out_json.read_text())["findings"]
    got = {
        (f["category"], f["column"], json.dumps(f["key"])) for f in findings if f["check"] == "reconciliation"
    }
    assert got == {
        ("missing_row", None, json.dumps({"id": 3})),
        ("extra_row", None, json.dumps({"id": 4})),
        ("value_mismatch", "v", json.dumps({"id": 2})),
    }


def test_spec_with_misspelled_key_names_file_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path / "m.yaml", "source: {url: 'sqlite:///a.db'}\ntarget: {url: 'duckdb:///b.duckdb'}\n"
                 "tables:\n  - source: items\n    colums: {}\n")  # fmt: skip
    code, _, err = _run(capsys, "validate-spec", str(spec))
    assert code == 2
    assert f"{spec}: tables[0].colums: unknown key" in err
    assert "Traceback" not in err


def test_spec_with_wrong_type_names_the_expected_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path / "m.yaml", "source: {url: 'sqlite:///a.db'}\ntarget: {url: 'duckdb:///b.duckdb'}\n"
                 "tables:\n  - source: items\n    columns: {price: {abs_tolerance: cheap}}\n")  # fmt: skip
    code, _, err = _run(capsys, "check", "--spec", str(spec))
    assert code == 2
    assert "tables[0].columns.price.abs_tolerance" in err and "number" in err


def test_spec_naming_a_missing_table_exits_2(
    pair: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path / "m.yaml", f"source: {{url: '{pair[0]}'}}\ntarget: {{url: '{pair[1]}'}}\n"
                 "tables:\n  - source: invoices\n")  # fmt: skip
    code, _, err = _run(capsys, "check", "--spec", str(spec))
    assert code == 2
    assert "'invoices'" in err and "does not exist in the source" in err


def test_unknown_scheme_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(
        capsys, "check", "--source", f"oracle://scott:{SECRET}@db/x", "--target", "duckdb:///:memory:"
    )
    assert code == 2
    assert "unknown scheme 'oracle'" in err
    assert SECRET not in err


def test_missing_database_file_is_bad_input_and_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.db"
    code, _, err = _run(capsys, "check", "--source", f"sqlite:///{missing}", "--target", "duckdb:///:memory:")
    assert code == 2
    assert str(missing) in err
    assert not missing.exists()


@pytest.mark.postgres
def test_unreachable_host_exits_3_without_password(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "check", "--source", f"postgresql://postgres:{SECRET}@127.0.0.1:1/x",
                        "--target", "duckdb:///:memory:")  # fmt: skip
    assert code == 3
    assert "cannot connect" in err and "***" in err
    assert SECRET not in err


@pytest.mark.mariadb
def test_wrong_password_exits_3_without_password(
    mariadb_db: MyDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    url = mariadb_db.url.replace("root@", f"root:{SECRET}@")
    code, _, err = _run(capsys, "check", "--source", url, "--target", "duckdb:///:memory:")
    assert code == 3
    assert "Access denied" in err
    assert SECRET not in err


def test_empty_table_and_table_without_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Empty tables compare equal; a keyless log table is compared as a multiset of rows.
    source = _sqlite(tmp_path / "s.db", "CREATE TABLE empty (id INTEGER PRIMARY KEY, v TEXT)",
                     "CREATE TABLE log (logged TEXT, msg TEXT)", "INSERT INTO log VALUES ('1','a'),('2','b'),('2','b')")  # fmt: skip
    target = _duck(tmp_path / "t.duckdb", "CREATE TABLE empty (id BIGINT PRIMARY KEY, v VARCHAR)",
                   "CREATE TABLE log (logged VARCHAR, msg VARCHAR)", "INSERT INTO log VALUES ('1','a'),('2','b')")  # fmt: skip
    out_json = tmp_path / "f.json"
    code, _out, _ = _run(capsys, "check", "--source", source, "--target", target, "--json", str(out_json))
    assert code == 1
    findings = [f for f in json.loads(out_json.read_text())["findings"] if f["check"] == "reconciliation"]
    assert [(f["table"], f["category"]) for f in findings] == [("log", "missing_row")]
    assert "multisets" in findings[0]["message"]


@pytest.mark.postgres
def test_no_spec_check_between_two_postgres_databases(
    pg_db: PgDatabase, pg_db2: PgDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ddl = "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(12,2))"
    pg_db.execute(ddl, "CREATE TABLE audit_only (id int PRIMARY KEY)",
                  "INSERT INTO accounts SELECT g, 'owner ' || g, g * 1.25 FROM generate_series(1, 200) g")  # fmt: skip
    pg_db2.execute(ddl, "INSERT INTO accounts SELECT g, 'owner ' || g, g * 1.25 FROM generate_series(1, 200) g",
                   "UPDATE accounts SET balance = balance + 0.01 WHERE id = 77")  # fmt: skip
    out_json = tmp_path / "f.json"
    code, out, _ = _run(
        capsys, "check", "--source", pg_db.url, "--target", pg_db2.url, "--json", str(out_json)
    )
    assert code == 1
    findings = json.loads(out_json.read_text())["findings"]
    assert {(f["table"], f["category"]) for f in findings if f["severity"] == "error"} == {
        ("audit_only", "table_missing"),
        ("accounts", "value_mismatch"),
    }
    # The canonical table checksums differ too: a consequence of the changed balance, not counted.
    assert [(f["severity"], f["caused_by"]) for f in findings if f["category"] == "checksum_mismatch"] == [
        ("info", "value_mismatch")
    ]
    assert "accounts" in out


def test_console_script_usage_error_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pm_pipeline.cli", "check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "one of the arguments --spec --source is required" in done.stderr
    assert "Traceback" not in done.stderr


def _entry(tmp_path: Path, before: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script's entry point in a fresh interpreter, after ``before`` (Python)."""
    script = (
        f"import sys\n{before}\nfrom pm_pipeline.cli import entry\n"
        f"sys.argv = ['pm-pipeline', *{list(args)!r}]\nentry()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=tmp_path
    )


def test_console_script_ends_with_exit_code_output_and_exit_handlers(
    pair: tuple[str, str], tmp_path: Path
) -> None:
    source, target = pair
    out = tmp_path / "findings.json"
    done = _entry(
        tmp_path,
        "import atexit\natexit.register(lambda: print('exit handler ran'))",
        "check",
        "--source",
        source,
        "--target",
        target,
        "--json",
        str(out),
        "--no-progress",
    )
    assert done.returncode == 0, done.stderr
    assert "PASS" in done.stdout and done.stdout.rstrip().endswith("exit handler ran")
    assert json.loads(out.read_text())["schema_version"]  # written whole
    bad = _entry(tmp_path, "", "check", "--source", "sqlite:///missing.db", "--target", target)
    assert bad.returncode == 2 and "missing.db does not exist" in bad.stderr


def test_console_script_waits_for_a_thread_still_working(tmp_path: Path) -> None:
    before = (
        "import threading, time\n"
        "threading.Thread(target=lambda: (time.sleep(0.5), print('thread finished'))).start()"
    )
    done = _entry(tmp_path, before, "validate-spec", str(tmp_path / "none.yaml"))
    assert done.returncode == 2 and "thread finished" in done.stdout


def test_verify_manifest_detects_a_change_after_the_check(
    pair: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = tmp_path / "reports"
    code, _out, _ = _run(capsys, "check", "--source", pair[0], "--target", pair[1], "--reports", str(reports))
    assert code == 0
    manifest = reports / "latest" / "checksum-manifest.json"
    code, out, _ = _run(capsys, "verify-manifest", str(manifest))
    assert code == 0, out
    connection = duckdb.connect(pair[1].removeprefix("duckdb:///"))
    connection.execute("UPDATE items SET name = 'changed' WHERE id = 2")
    connection.close()
    code, out, _ = _run(capsys, "verify-manifest", str(manifest))
    assert code == 1
    assert "items" in out and "checksum_mismatch" in out


def test_audit_verify_detects_an_edited_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pm_pipeline.core.security.audit import AuditLog

    log_path = tmp_path / "audit.jsonl"
    log = AuditLog(log_path)
    log.append("approve", actor="alice", data={"plan": "abc"})
    log.append("approve", actor="bob", data={"plan": "abc"})
    code, out, _ = _run(capsys, "audit", "verify", str(log_path))
    assert code == 0 and "2 record(s)" in out
    log_path.write_text(log_path.read_text().replace("bob", "eve"))
    code, out, _ = _run(capsys, "audit", "verify", str(log_path))
    assert code == 1 and "line 2" in out
    code, _, err = _run(capsys, "audit", "verify", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "does not exist" in err


def test_restricted_values_appear_in_no_output_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Diff files and the console are outputs too: a restricted column's values must not leak there.
    source = _sqlite(tmp_path / "s.db", "CREATE TABLE people (id INTEGER PRIMARY KEY, ssn TEXT, city TEXT)",
                     "INSERT INTO people VALUES (1,'111-22-3333','Lyon'),(2,'444-55-6666','Nice')")  # fmt: skip
    target = _duck(tmp_path / "t.duckdb", "CREATE TABLE people (id BIGINT PRIMARY KEY, ssn VARCHAR, city VARCHAR)",
                   "INSERT INTO people VALUES (1,'111-22-3334','Lyon'),(2,'444-55-6666','Nice ')")  # fmt: skip
    spec = _spec(tmp_path / "m.yaml", f"source: {{url: '{source}'}}\ntarget: {{url: '{target}'}}\n"
                 "tables:\n  - source: people\n    columns: {ssn: {classification: restricted}}\n"
                 "reports: {clearance: internal}\n")  # fmt: skip
    reports = tmp_path / "reports"
    code, out, err = _run(capsys, "check", "--spec", str(spec), "--reports", str(reports))
    assert code == 1
    files = [p for p in reports.rglob("*") if p.is_file()]
    assert any(p.name == "changed_cells.parquet" for p in files)
    import pyarrow.parquet as pq

    for path in files:
        text = (
            str(pq.read_table(path).to_pylist())
            if path.suffix == ".parquet"
            else path.read_bytes().decode("latin-1")
        )
        for secret in ("111-22-3333", "111-22-3334"):
            assert secret not in text, f"{secret} leaked into {path}"
    cells = pq.read_table(reports / "latest" / "diffs" / "people" / "changed_cells.parquet").to_pylist()
    # The unclassified column keeps its values, so the diff is still useful.
    assert {c["column"]: (c["source_value"], c["target_value"]) for c in cells} == {
        "ssn": ("***", "***"),
        "city": ("Nice", "Nice "),
    }
    assert "111-22-333" not in out + err


def test_malformed_value_names_table_column_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # SQLite stores whatever it is given: text in an INTEGER column of a legacy table.
    source = _sqlite(tmp_path / "s.db", "CREATE TABLE t (id INTEGER PRIMARY KEY, qty INTEGER)",
                     "INSERT INTO t VALUES (1, 5), (2, 'twelve')")  # fmt: skip
    target = _duck(tmp_path / "t.duckdb", "CREATE TABLE t (id BIGINT PRIMARY KEY, qty INTEGER)",
                   "INSERT INTO t VALUES (1, 5), (2, 12)")  # fmt: skip
    # An unreadable value is a finding at its key, not the end of the run (exit 1, not 2).
    code, out, err = _run(capsys, "check", "--source", source, "--target", target, "--no-reports")
    assert code == 1, out + err
    assert "Traceback" not in err
    lines = out.splitlines()
    (head,) = [line for line in lines if "x t.qty unreadable_value" in line]
    assert lines[lines.index(head) + 1].startswith("    id=2: 'twelve' -> ")
