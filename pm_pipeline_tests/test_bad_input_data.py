"""Hostile data on real PostgreSQL, MariaDB and SQLite databases (console markup, infinite and
far-future instants, NUL in text) and a broken audit log: exit codes, no traceback, whole outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pm_pipeline_tests.conftest import MyDatabase, PgDatabase
from pm_pipeline_tests.test_bad_input import _run, _sqlite, assert_clean


def _check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, source: str, target: str
) -> tuple[int, str, str, list[dict[str, object]]]:
    findings_json = tmp_path / "out" / "findings.json"
    code, out, err = _run(
        capsys, "check", "--source", source, "--target", target,
        "--reports", tmp_path / "reports", "--json", findings_json,
    )  # fmt: skip
    findings = json.loads(findings_json.read_text())["findings"] if findings_json.exists() else []
    return code, out, err, findings


# Values that rich would read as markup: '[/]' raised MarkupError (a traceback, exit 1), '[bold]'
# was restyled, so the printed default was not the one in the database.
MARKUP_DEFAULTS = [
    pytest.param("[/] closed", "[bold]open", id="closing-tag-and-style"),
    pytest.param("[red]x[/red]", "[link=http://x]y", id="colour-and-link"),
]


@pytest.mark.parametrize(("source_default", "target_default"), MARKUP_DEFAULTS)
def test_markup_in_sqlite_values_is_printed_as_written(
    source_default: str, target_default: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def ddl(default: str) -> str:
        return f"CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT DEFAULT '{default}')"

    source = _sqlite(tmp_path / "s.db", ddl(source_default), "INSERT INTO t VALUES (1, 'a')")
    target = _sqlite(tmp_path / "t.db", ddl(target_default), "INSERT INTO t VALUES (1, 'a')")
    code, out, err, findings = _check(capsys, tmp_path, source, target)
    assert_clean(code, out, err, tmp_path, expected=0, names=[])  # a default differing: a warning
    assert [f["category"] for f in findings if f["severity"] != "info"] == ["default_missing"]
    assert source_default in out and target_default in out


@pytest.mark.postgres
@pytest.mark.mariadb
def test_markup_in_mariadb_names_and_values(
    mariadb_db: MyDatabase, pg_db: PgDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A legacy MariaDB table whose name holds brackets, missing from the PostgreSQL target.
    mariadb_db.execute(
        "CREATE TABLE items (id INT PRIMARY KEY, note VARCHAR(20))",
        "INSERT INTO items VALUES (1, '[/] n'), (2, '[bold]b')",
        "CREATE TABLE `[/]legacy` (id INT PRIMARY KEY)",
    )
    pg_db.execute(
        "CREATE TABLE items (id int PRIMARY KEY, note varchar(20))",
        "INSERT INTO items VALUES (1, '[/] n'), (2, '[bold]b')",
    )
    code, out, err, findings = _check(capsys, tmp_path, mariadb_db.url, pg_db.url)
    assert_clean(code, out, err, tmp_path, expected=1, names=[])
    assert [(f["table"], f["category"]) for f in findings if f["severity"] == "error"] == [
        ("[/]legacy", "table_missing")
    ]
    assert "[/]legacy" in out


@pytest.mark.postgres
def test_infinite_and_far_future_instants_are_differences_not_crashes(
    pg_db: PgDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # PostgreSQL 'infinity' and years past 9999 overflow Python's datetime: showing such a
    # difference crashed the run (OverflowError, exit 1 as if it were the verdict).
    pg_db.execute(
        "CREATE SCHEMA t",
        "CREATE TABLE public.ev (id int PRIMARY KEY, at timestamp, day date)",
        "CREATE TABLE t.ev (id int PRIMARY KEY, at timestamp, day date)",
        "INSERT INTO public.ev VALUES (1, 'infinity', '2020-01-01'), (2, '2020-01-01', '9999-12-31'),"
        " (3, '2020-01-01 10:00', '2020-01-01'), (4, '2021-01-01', '2021-01-01')",
        "INSERT INTO t.ev VALUES (1, '2020-01-01', '2020-01-01'), (2, '2020-01-01', '10000-01-01'),"
        " (3, '20000-01-01 10:00', '2020-01-01'), (4, '2021-01-01', '2021-01-01')",
    )
    code, out, err, findings = _check(capsys, tmp_path, pg_db.url, f"{pg_db.url}?schema=t")
    assert_clean(code, out, err, tmp_path, expected=1, names=[])
    differing = {
        (f["key"]["id"], f["column"]): (f["source_value"], f["target_value"])  # type: ignore[index]
        for f in findings
        if f["category"] == "value_mismatch"
    }
    assert set(differing) == {(1, "at"), (2, "day"), (3, "at")}
    assert differing[(2, "day")] == ("9999-12-31", "10000-01-01")
    (far,) = [f for f in findings if f["category"] == "value_mismatch" and f["key"] == {"id": 3}]
    assert far["target_canonical"] == "20000-01-01T10:00:00.000000Z"  # readable, past datetime's reach


@pytest.mark.mariadb
def test_nul_in_text_compares_equal_when_migrated_whole(
    mariadb_db: MyDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # SQLite and MariaDB keep a NUL inside text; a correct migration of it passes.
    source = _sqlite(
        tmp_path / "s.db",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR(10))",
        "INSERT INTO notes VALUES (1, 'a' || char(0) || 'b'), (2, 'plain')",
    )
    mariadb_db.execute(
        "CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(10))",
        "INSERT INTO notes VALUES (1, CONCAT('a', CHAR(0), 'b')), (2, 'plain')",
    )
    code, out, err, findings = _check(capsys, tmp_path, source, mariadb_db.url)
    assert_clean(code, out, err, tmp_path, expected=0, names=[])
    assert [f for f in findings if f["severity"] == "error"] == []


def test_nul_lost_from_text_is_a_difference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A loader that stops at the NUL (C strings) truncates the value.
    ddl = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"
    source = _sqlite(tmp_path / "s.db", ddl, "INSERT INTO notes VALUES (1, 'a' || char(0) || 'b')")
    target = _sqlite(tmp_path / "t.db", ddl, "INSERT INTO notes VALUES (1, 'a')")
    code, out, err, findings = _check(capsys, tmp_path, source, target)
    assert_clean(code, out, err, tmp_path, expected=1, names=[])
    assert [(f["column"], f["source_value"]) for f in findings if f["category"] == "value_mismatch"] == [
        ("body", "a\x00b")
    ]


def test_half_written_audit_line_refuses_a_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A writer killed mid-record leaves half a line: chaining after it made `rollback snapshot`
    # crash after the snapshot folder was written.
    url = _sqlite(
        tmp_path / "t.db", "CREATE TABLE items (id INTEGER PRIMARY KEY)", "INSERT INTO items VALUES (1)"
    )
    audit = tmp_path / "audit" / "rollback.jsonl"
    spec = tmp_path / "migration.yaml"
    spec.write_text(yaml.safe_dump({
        "source": {"url": url}, "target": {"url": url}, "tables": [{"source": "items"}],
        "rollback": {"snapshot_dir": str(tmp_path / "snapshots"), "audit_log": str(audit)},
    }))  # fmt: skip
    code, _, err = _run(capsys, "rollback", "snapshot", "--spec", spec)
    assert code == 0, err
    audit.write_text(audit.read_text() + '{"seq": 1, "at": "2026-')
    before = sorted((tmp_path / "snapshots").iterdir())
    code, out, err = _run(capsys, "rollback", "snapshot", "--spec", spec)
    assert_clean(code, out, err, tmp_path, expected=2, names=[str(audit), "line 2", "nothing was done"])
    assert sorted((tmp_path / "snapshots").iterdir()) == before


@pytest.mark.parametrize(
    ("content", "expected", "names"),
    [
        # The log's folder given instead of the log.
        pytest.param(None, 2, ["is a folder"], id="a-directory"),
        # A binary file: not text, so not an intact log (exit 1, as any broken log).
        pytest.param(b"\x00\xff\xfe binary", 1, [], id="binary-file"),
    ],
)
def test_audit_verify_of_a_wrong_file(
    content: bytes | None, expected: int, names: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "audit.jsonl"
    if content is None:
        log.mkdir()
    else:
        log.write_bytes(content)
    code, out, err = _run(capsys, "audit", "verify", log)
    assert_clean(code, out, err, tmp_path, expected=expected, names=names, outputs=False)
    assert expected == 2 or "not UTF-8" in out


@pytest.mark.postgres
@pytest.mark.parametrize("strategy", ["arrow", "pushdown", "bucket"])
def test_infinite_numbers_differ_from_finite_ones(
    strategy: str, pg_db: PgDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The relative float tolerance scaled by infinity admitted any value: 'infinity' migrated as 1
    # (or as '-infinity') passed. Row 3 holds infinities migrated whole: equal.
    table = "CREATE TABLE {}.m (id int PRIMARY KEY, f float8, n numeric)"
    pg_db.execute(
        "CREATE SCHEMA t", table.format("public"), table.format("t"),
        "INSERT INTO public.m VALUES (1, 'infinity', 'Infinity'), (2, '-infinity', 2), (3, 'infinity', '-Infinity')",
        "INSERT INTO t.m VALUES (1, 1, 1), (2, 'infinity', 2), (3, 'infinity', '-Infinity')",
    )  # fmt: skip
    findings_json = tmp_path / "out" / "findings.json"
    code, out, err = _run(
        capsys, "check", "--source", pg_db.url, "--target", f"{pg_db.url}?schema=t", "--strategy", strategy,
        "--no-integrity", "--json", findings_json,
    )  # fmt: skip
    assert_clean(code, out, err, tmp_path, expected=1, names=[])
    findings = json.loads(findings_json.read_text())["findings"]
    differing = {(f["key"]["id"], f["column"]) for f in findings if f["category"] == "value_mismatch"}
    assert differing == {(1, "f"), (1, "n"), (2, "f")}


@pytest.mark.mariadb
def test_mysql_time_beyond_a_day_is_shown_as_written(
    mariadb_db: MyDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # MySQL TIME spans -838:59:59 to 838:59:59 (a duration): showing a negative one as a time of
    # day crashed the run (OverflowError), and '100:00:00' was shown as '04:00:00'.
    mariadb_db.execute(
        "CREATE TABLE tm (id INT PRIMARY KEY, t TIME)",
        "CREATE TABLE tm_copy (id INT PRIMARY KEY, t TIME)",
        "INSERT INTO tm VALUES (1, '-01:00:00'), (2, '100:00:00'), (3, '01:00:00.5')",
        "INSERT INTO tm_copy VALUES (1, '01:00:00'), (2, '04:00:00'), (3, '01:00:00.5')",
    )
    spec = tmp_path / "migration.yaml"
    spec.write_text(yaml.safe_dump({
        "source": {"url": mariadb_db.url}, "target": {"url": mariadb_db.url},
        "tables": [{"source": "tm", "target": "tm_copy"}],
    }))  # fmt: skip
    findings_json = tmp_path / "out" / "findings.json"
    code, out, err = _run(capsys, "check", "--spec", spec, "--no-integrity", "--json", findings_json)
    assert_clean(code, out, err, tmp_path, expected=1, names=[])
    findings = json.loads(findings_json.read_text())["findings"]
    shown = {
        f["key"]["id"]: (f["source_canonical"], f["target_canonical"])
        for f in findings
        if f["category"] == "value_mismatch"
    }
    assert shown == {1: ("-01:00:00", "01:00:00"), 2: ("100:00:00", "04:00:00")}
