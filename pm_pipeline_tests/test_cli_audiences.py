"""`reports.audiences`: one report set per audience, a restricted column's canary only in the
restricted set (every file read as its reader would: XLSX unzipped, PDF text, Parquet rows), an
internal one in the internal and restricted sets, each set's manifest verifying, the evidence pack
naming the audience and its masked columns, and the console at the run's clearance."""

from __future__ import annotations

import io
import json
import sqlite3
import stat
import subprocess
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pm_pipeline.cli import main

RESTRICTED = f"rcnry{uuid.uuid4().hex[:10]}"  # in the restricted columns' values
INTERNAL = f"icnry{uuid.uuid4().hex[:10]}"  # in the internal column's values
AUDIENCES = ("public", "internal", "restricted")


def _database(path: Path, *, target: bool) -> str:
    rows = []
    for i in range(1, 6):
        # The restricted key column: the target lost row 1, so its key is a missing row's key.
        email, ssn, tier, city = (
            f"{RESTRICTED}-{i}@example.org",
            f"{RESTRICTED}-ssn-{i}",
            f"{INTERNAL}-{i}",
            "c",
        )
        if target and i == 1:
            continue
        if target and i == 2:
            ssn, tier, city = f"{RESTRICTED}-ssn-changed", f"{INTERNAL}-changed", "moved"
        rows.append((email, ssn, tier, city))
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (email TEXT PRIMARY KEY, ssn TEXT, tier TEXT, city TEXT)")
        connection.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", rows)
    return f"sqlite:///{path}"


def audience_spec(directory: Path, *, clearance: str, audiences: str, extra: str = "") -> Path:
    spec = directory / "audiences.yaml"
    spec.write_text(
        f"""version: 1
name: audiences
source:
  url: "{_database(directory / "source.db", target=False)}"
target:
  url: "{_database(directory / "target.db", target=True)}"
tables:
  - source: customers
    key: [email]
    columns:
      email: {{classification: restricted}}
      ssn: {{classification: restricted}}
      tier: {{classification: internal}}
reports:
  directory: reports
  clearance: {clearance}
  audiences: {audiences}
{extra}""",
        encoding="utf-8",
    )
    return spec


def _texts(path: Path) -> Iterator[str]:
    """What a reader of the file sees: its bytes, and the text inside the containers we write."""
    data = path.read_bytes()
    yield data.decode("utf-8", errors="replace")
    if data.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            yield from (archive.read(name).decode("utf-8", errors="replace") for name in archive.namelist())
    elif data.startswith(b"%PDF"):
        yield subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, text=True).stdout
    elif data.startswith(b"PAR1"):
        yield repr(pq.read_table(path).to_pylist())


def _files_holding(report_set: Path, needle: str) -> set[str]:
    return {
        path.relative_to(report_set).as_posix()
        for path in report_set.rglob("*")
        if path.is_file() and any(needle in text for text in _texts(path))
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    directory = tmp_path_factory.mktemp("audiences")
    spec = audience_spec(directory, clearance="public", audiences="[restricted, public, internal]")
    output = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(output):
        code = main(["check", "--spec", str(spec), "--no-progress", "--no-integrity"])
    return directory / "reports", code, output.getvalue()


def test_each_audience_gets_its_own_set_that_verifies(
    run: tuple[Path, int, str], capsys: pytest.CaptureFixture[str]
) -> None:
    reports, code, _ = run
    assert code == 1  # the target lost a row and changed values
    assert sorted(p.name for p in reports.iterdir()) == sorted(AUDIENCES)
    run_ids = set()
    for audience in AUDIENCES:
        report_set = (reports / audience / "latest").resolve()
        assert main(["verify-manifest", str(report_set)]) == 0
        manifest = json.loads((report_set / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["audience"] == manifest["clearance"] == audience
        run_ids.add(manifest["run_id"])
        assert (report_set / "diffs" / "customers" / "changed_cells.parquet").is_file()
    assert len(run_ids) == 1  # one run, three views of it
    assert main(["verify-manifest", str(reports)]) == 2  # the root is no set: it names one to verify
    assert f"name one, e.g. {reports / 'public' / 'latest'}" in capsys.readouterr().err
    # Folders above public are created for their owner alone.
    assert stat.S_IMODE((reports / "restricted").stat().st_mode) & 0o077 == 0
    assert stat.S_IMODE((reports / "internal").stat().st_mode) & 0o077 == 0


def test_a_canary_is_seen_only_by_audiences_cleared_for_its_column(run: tuple[Path, int, str]) -> None:
    reports, _, _ = run
    seen = {
        audience: {
            needle: _files_holding((reports / audience / "latest").resolve(), needle)
            for needle in (RESTRICTED, INTERNAL)
        }
        for audience in AUDIENCES
    }
    assert seen["public"] == {RESTRICTED: set(), INTERNAL: set()}
    assert seen["internal"][RESTRICTED] == set()
    # The cleared sets show the values in every format that shows values, diff files included.
    for audience, needle in (("internal", INTERNAL), ("restricted", INTERNAL), ("restricted", RESTRICTED)):
        assert {
            "findings.json",
            "report.html",
            "report.xlsx",
            "diffs/customers/changed_cells.parquet",
        } <= seen[audience][needle], (audience, needle)
    # A missing row's key is a restricted value: only the restricted set's row file holds it.
    assert "diffs/customers/missing_rows.parquet" in seen["restricted"][RESTRICTED]
    masked = pq.read_table((reports / "public" / "latest").resolve() / "diffs/customers/missing_rows.parquet")
    assert masked.to_pylist() == [{"email": "***"}]


def test_the_evidence_pack_records_what_each_audience_saw(run: tuple[Path, int, str]) -> None:
    reports, _, _ = run
    expected = {
        "public": ["customers.email", "customers.ssn", "customers.tier"],
        "internal": ["customers.email", "customers.ssn"],
        "restricted": [],
    }
    for audience, masked in expected.items():
        pack = json.loads(
            ((reports / audience / "latest") / "evidence-pack.json").read_text(encoding="utf-8")
        )
        assert pack["audience"] == {"audience": audience, "clearance": audience, "masked_columns": masked}
        assert pack["clearance"] == audience


def test_the_console_stays_at_the_runs_clearance(run: tuple[Path, int, str]) -> None:
    reports, _, stdout = run
    assert RESTRICTED not in stdout and INTERNAL not in stdout
    assert "moved" in stdout  # the unclassified change is shown, so the output did list findings
    # The last line names the set at the run's own clearance (public), never a higher one.
    assert stdout.strip().splitlines()[-1] == f"reports: {(reports / 'public' / 'latest').resolve()}"


def test_repeated_audiences_are_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = audience_spec(tmp_path, clearance="internal", audiences="[public, public]")
    assert main(["check", "--spec", str(spec), "--no-progress"]) == 2
    assert "repeated: public" in capsys.readouterr().err


def test_json_output_and_the_audit_log_name_every_audiences_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDIENCES_AUDIT_KEY", "audiences-test-key")
    audit = f"audit:\n  log: {tmp_path / 'audit.jsonl'}\n  key_env: AUDIENCES_AUDIT_KEY\n"
    spec = audience_spec(tmp_path, clearance="internal", audiences="[public, restricted]", extra=audit)
    code = main(["check", "--spec", str(spec), "--no-progress", "--no-integrity", "--format", "json"])
    out = capsys.readouterr().out
    assert code == 1 and RESTRICTED not in out and INTERNAL in out  # the console at internal
    # No internal set: the console names the highest audience not above its clearance.
    document = json.loads(out)
    assert document["reports"] == str((tmp_path / "reports" / "public" / "latest").resolve())
    assert document["files"] == {
        f"reports ({audience})": str((tmp_path / "reports" / audience / "latest").resolve())
        for audience in ("public", "restricted")
    }
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    (written,) = [r for r in records if r["event"] == "report.written"]
    files = set(written["data"]["files"])
    assert {"public/manifest.json", "restricted/manifest.json", "restricted/evidence-pack.json"} <= files


def test_the_audit_log_holds_each_audiences_own_set_while_latest_is_another_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pm_pipeline.core.digest.files import file_sha256

    monkeypatch.setenv("AUDIENCES_AUDIT_KEY", "audiences-test-key")
    audit = f"audit:\n  log: {tmp_path / 'audit.jsonl'}\n  key_env: AUDIENCES_AUDIT_KEY\n"
    spec = audience_spec(tmp_path, clearance="internal", audiences="[public, restricted]", extra=audit)
    # A concurrent run that started later published its public set first: public/latest is its.
    later = tmp_path / "reports" / "public" / "99991231T235959999Z-later0"
    later.mkdir(parents=True)
    (later / "manifest.json").write_text('{"run": "later"}', encoding="utf-8")
    (later.parent / "latest").symlink_to(later.name)
    main(["check", "--spec", str(spec), "--no-progress", "--no-integrity", "--format", "json"])
    sets = json.loads(capsys.readouterr().out)["files"]
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    (written,) = [r for r in records if r["event"] == "report.written"]
    for audience in ("public", "restricted"):
        own = Path(sets[f"reports ({audience})"])
        assert own != later
        assert written["data"]["files"][f"{audience}/manifest.json"] == "sha256:" + file_sha256(
            own / "manifest.json"
        )
