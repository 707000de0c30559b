"""`pm-pipeline check` records its runs and reports in the spec's audit log; `audit verify` checks chain, key and anchors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pm_pipeline.cli import main

KEY = "k" * 32


def _sqlite(path: Path, *statements: str) -> str:
    connection = sqlite3.connect(path)
    connection.executescript(";\n".join(statements))
    connection.commit()
    connection.close()
    return f"sqlite:///{path}"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    ddl = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)"
    rows = "INSERT INTO items VALUES (1,'a'),(2,'b')"
    source = _sqlite(tmp_path / "s.db", ddl, rows)
    target = _sqlite(tmp_path / "t.db", ddl, rows)
    path = tmp_path / "spec.yaml"
    path.write_text(
        f"name: shop\nsource: {{url: '{source}'}}\ntarget: {{url: '{target}'}}\ntables: [{{source: items}}]\n"
        f"audit:\n  log: {tmp_path / 'audit' / 'shop.jsonl'}\n  key_env: SHOP_AUDIT_KEY\n"
        f"  anchor_file: {tmp_path / 'anchors' / 'shop.json'}\n",
        encoding="utf-8",
    )
    return path


def _records(tmp_path: Path) -> list[dict[str, object]]:
    lines = (tmp_path / "audit" / "shop.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_check_runs_and_reports_are_recorded_keyed_and_anchored(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_AUDIT_KEY", KEY)
    reports = tmp_path / "reports"
    code, out, err = _run(capsys, "check", "--spec", str(spec), "--reports", str(reports), "--no-progress")
    assert code == 0, out + err
    run, written = _records(tmp_path)
    assert run["event"] == "check.run" and run["origin"] == "cli" and run["mac"] == "hmac-sha256"
    data = run["data"]
    assert isinstance(data, dict) and data["verdict"] == "pass" and data["tables"] == ["items"]
    assert len(str(data["spec_checksum"])) == 64
    assert written["event"] == "report.written"
    files = written["data"]["files"]  # type: ignore[index]
    assert "findings.json" in files and all(str(v).startswith("sha256:") for v in files.values())
    anchor = json.loads((tmp_path / "anchors" / "shop.json").read_text())
    assert anchor["seq"] == 1 and anchor["head"] == written["hash"]

    # A changed spec is recorded before the next run.
    spec.write_text(spec.read_text().replace("name: shop", "name: shop\ndiscover: false"))
    assert (
        _run(capsys, "check", "--spec", str(spec), "--no-progress", "--json", str(tmp_path / "f.json"))[0]
        == 0
    )
    assert [r["event"] for r in _records(tmp_path)][2:] == ["spec.changed", "check.run", "report.written"]

    code, out, _ = _run(capsys, "audit", "verify", "--spec", str(spec))
    assert code == 0 and "5 record(s), chain intact" in out
    assert "keyed: every record checked with HMAC-SHA256" in out and "SHOP_AUDIT_KEY" in out
    assert "anchors/shop.json: head (record 4) matches" in out


def test_verify_exit_codes_for_a_forged_tail_and_a_missing_key(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_AUDIT_KEY", KEY)
    assert (
        _run(capsys, "check", "--spec", str(spec), "--no-progress", "--json", str(tmp_path / "f.json"))[0]
        == 0
    )
    log = tmp_path / "audit" / "shop.jsonl"
    lines = log.read_text().splitlines()
    log.write_text(lines[0] + "\n")
    code, out, _ = _run(capsys, "audit", "verify", "--spec", str(spec))
    assert code == 1 and "1 record(s) were removed from the end" in out
    monkeypatch.delenv("SHOP_AUDIT_KEY")
    code, _, err = _run(capsys, "audit", "verify", "--spec", str(spec))
    assert code == 2 and "set SHOP_AUDIT_KEY to its key" in err
    # A run is not started when its record could not be written.
    code, _, err = _run(capsys, "check", "--spec", str(spec), "--no-progress")
    assert code == 2 and "is keyed" in err and len(log.read_text().splitlines()) == 1


def test_unkeyed_log_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pm_pipeline.core.security.audit import AuditLog

    monkeypatch.delenv("PM_AUDIT_KEY", raising=False)
    log = AuditLog(tmp_path / "a.jsonl")
    log.append("check.run", actor="ci")
    code, out, _ = _run(capsys, "audit", "verify", str(log.path))
    assert code == 0 and "UNKEYED" in out and "accidental damage only" in out
    monkeypatch.setenv("PM_AUDIT_KEY", KEY)
    code, out, _ = _run(capsys, "audit", "verify", str(log.path))
    assert code == 0 and "UNKEYED so far" in out and "the next record is keyed" in out
    code, _, err = _run(capsys, "audit", "verify")
    assert code == 2 and "name the log, or give --spec" in err


def test_a_check_that_fails_to_run_is_recorded_by_its_kind(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_AUDIT_KEY", KEY)
    spec.write_text(spec.read_text().replace("[{source: items}]", "[{source: absent_table}]"))
    code, _, err = _run(capsys, "check", "--spec", str(spec), "--no-progress", "--no-reports")
    assert code == 2 and "absent_table" in err
    (record,) = _records(tmp_path)
    assert record["event"] == "check.run" and str(record["data"]["verdict"]).startswith("error: ")  # type: ignore[index]
    assert record["data"]["tables"] == ["absent_table"]  # type: ignore[index]


def test_a_check_is_not_run_on_a_broken_log(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_AUDIT_KEY", KEY)
    assert _run(capsys, "check", "--spec", str(spec), "--no-progress", "--no-reports")[0] == 0
    log = tmp_path / "audit" / "shop.jsonl"
    log.write_text(log.read_text() + '{"half a record')  # a write cut short, or a hand edit
    code, out, err = _run(capsys, "check", "--spec", str(spec), "--no-progress", "--no-reports")
    assert code == 2 and "line 2: not a valid audit record; nothing was done" in err and "PASS" not in out
    assert len(log.read_text().splitlines()) == 2


def _later_run(root: Path) -> Path:
    """A concurrent run that started after this one and published first: ``latest`` points at its
    set and never moves back to an earlier run's."""
    later = root / "99991231T235959999Z-later0"
    later.mkdir(parents=True)
    for name in ("manifest.json", "findings.json"):
        (later / name).write_text('{"run": "later"}', encoding="utf-8")
    (root / "latest").symlink_to(later.name)
    return later


def test_a_run_records_its_own_report_set_while_latest_is_another_runs(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pm_pipeline.core.digest.files import file_sha256

    monkeypatch.setenv("SHOP_AUDIT_KEY", KEY)
    reports = tmp_path / "reports"
    later = _later_run(reports)
    code, out, err = _run(capsys, "check", "--spec", str(spec), "--reports", str(reports), "--no-progress")
    assert code == 0, out + err
    assert (reports / "latest").resolve() == later
    (own,) = [p for p in reports.iterdir() if p.is_dir() and not p.is_symlink() and p not in (later,)]
    files = _records(tmp_path)[-1]["data"]["files"]  # type: ignore[index]
    assert {name: files[name] for name in ("manifest.json", "findings.json")} == {
        name: "sha256:" + file_sha256(own / name) for name in ("manifest.json", "findings.json")
    }
