"""Bad input at the command line, in specs and in connection URLs: the exit code, a message naming
what and where, no traceback, no password and no half-written output file."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pm_pipeline.cli import main
from pm_pipeline_tests.conftest import PgDatabase

EXIT_OK, EXIT_DIFFERENCES, EXIT_BAD_INPUT, EXIT_SYSTEM = 0, 1, 2, 3
PREFIX, SUFFIX = "Qx7v", "S3cret9"  # both halves of every test password: neither may be printed


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _sqlite(path: Path, *statements: str) -> str:
    connection = sqlite3.connect(path)
    connection.executescript(";\n".join(statements))
    connection.commit()
    connection.close()
    return f"sqlite:///{path}"


@pytest.fixture
def pair(tmp_path: Path) -> tuple[str, str]:
    """A correct SQLite -> SQLite migration of one table."""
    ddl = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)"
    rows = "INSERT INTO items VALUES (1, 'a'), (2, 'b')"
    return _sqlite(tmp_path / "s.db", ddl, rows), _sqlite(tmp_path / "t.db", ddl, rows)


def _outputs(tmp_path: Path) -> list[str]:
    return ["--reports", str(tmp_path / "reports"), "--json", str(tmp_path / "out" / "findings.json")]


def assert_clean(
    code: int, out: str, err: str, tmp_path: Path, *, expected: int, names: list[str], outputs: bool = True
) -> None:
    """The contract every case keeps: its exit code, the message naming what and where, no
    traceback, no password half, and (for a check given ``_outputs``) outputs whole or absent."""
    assert code == expected, out + err
    for name in names:
        assert name in err, f"{name!r} not named in: {err}"
    assert "Traceback" not in err
    assert PREFIX not in out + err and SUFFIX not in out + err
    reports, findings = tmp_path / "reports", tmp_path / "out" / "findings.json"
    written = [p for p in reports.rglob("*") if p.is_file()] if reports.exists() else []
    if code in (EXIT_OK, EXIT_DIFFERENCES) and outputs:
        assert json.loads(findings.read_text())["schema_version"]
    else:
        assert written == [] and not findings.exists(), written
    leftovers = list((tmp_path / "out").glob(".pm-pipeline-*")) if (tmp_path / "out").exists() else []
    assert leftovers == []


# --- specs: validate-spec reads them as `check --spec` does -------------------------------------

HEAD = "source: {url: 'sqlite:///s.db'}\ntarget: {url: 'sqlite:///t.db'}\n"
ITEMS = "tables:\n  - source: items\n"
SPEC_CASES = [
    # A misspelled option is silently ignored by lax readers, and the column is compared strictly.
    pytest.param(HEAD + ITEMS + "    colums: {}\n", ["tables[0].colums", "unknown key"], id="unknown-key"),
    # `target:` pasted twice: the last one wins and the run checks a database nobody meant.
    pytest.param(HEAD + "target: {url: 'sqlite:///other.db'}\n" + ITEMS,
                 ["line 3", "duplicate key 'target'", "first written on line 2"], id="duplicate-key"),
    # Two rules for one column: one of them would be dropped without a word.
    pytest.param(HEAD + ITEMS + "    columns:\n      name: {trim: true}\n      name: {case_insensitive: true}\n",
                 ["line 7", "duplicate key 'name'"], id="duplicate-nested-key"),
    # An unquoted numeric column name becomes an integer key.
    pytest.param(HEAD + ITEMS + "    columns:\n      2020: {trim: true}\n", ["line 6", "key 2020 is not text"],
                 id="integer-key"),
    # YAML 1.1 reads `on:` as true: a column named "on" vanishes.
    pytest.param(HEAD + ITEMS + "    columns:\n      on: {trim: true}\n", ["key True is not text"], id="boolean-key"),
    # A tolerance written as a word would compare exactly, against the user's intent.
    pytest.param(HEAD + ITEMS + "    columns: {name: {abs_tolerance: cheap}}\n",
                 ["tables[0].columns.name.abs_tolerance", "number"], id="wrong-type"),
    # A misspelled zone would shift every naive timestamp by an unknown offset.
    pytest.param(HEAD.replace("'sqlite:///s.db'", "'sqlite:///s.db', timezone: Europe/Pariss") + ITEMS,
                 ["source.timezone", "Europe/Pariss"], id="bad-zone"),
    # A tolerance with no unit: seconds or milliseconds?
    pytest.param(HEAD + ITEMS + "    columns: {name: {timestamp_tolerance: soon}}\n",
                 ["tables[0].columns.name.timestamp_tolerance", "'soon'"], id="bad-duration"),
    # An anchor shared between two tables: editing one silently edits the other.
    pytest.param(HEAD + "tables:\n  - source: items\n    columns: &rules {name: {trim: true}}\n"
                 "  - source: other\n    columns: *rules\n", ["line 5", "anchors and aliases"], id="anchor-alias"),
    # A merge key: the effective rules are nowhere written out.
    pytest.param(HEAD + ITEMS + "    columns:\n      name:\n        <<: {trim: true}\n",
                 ["line 7", "merge keys (<<)"], id="merge-key"),
    # A half-edited file.
    pytest.param(HEAD + "tables: [\n", ["not valid YAML", "line"], id="broken-yaml"),
    # A secret expected from the environment of a CI job that did not export it.
    pytest.param("source: {url: '${PM_GALLERY_UNSET}'}\ntarget: {url: 'sqlite:///t.db'}\n" + ITEMS,
                 ["source.url", "PM_GALLERY_UNSET is not set"], id="unset-variable"),
    # A list where the spec expects a mapping.
    pytest.param("- source\n- target\n", ["mapping at the top level"], id="not-a-mapping"),
    # A spec that names nothing to compare.
    pytest.param(HEAD, ["no tables"], id="no-tables"),
    # An empty file (a failed template render).
    pytest.param("", ["the file is empty"], id="empty-file"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "names"), SPEC_CASES)
def test_bad_spec_is_exit_2_naming_file_and_place(
    text: str, names: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "migration.yaml"
    spec.write_text(text, encoding="utf-8")
    code, out, err = _run(capsys, "validate-spec", spec)
    assert_clean(code, out, err, tmp_path, expected=EXIT_BAD_INPUT, names=[str(spec), *names])
    assert err.count("\n") == 1  # one line


@pytest.mark.parametrize(
    ("kind", "names"),
    [
        # The path of a spec that was never checked out.
        pytest.param("missing", ["file not found"], id="missing-file"),
        # The folder of the specs instead of one of them.
        pytest.param("folder", ["is a folder"], id="a-directory"),
        # A compiled file or an image passed by a wrong glob.
        pytest.param("binary", ["not a text file"], id="binary-file"),
        # A file with NUL bytes, such as a UTF-16 export.
        pytest.param("nul", ["not a text file", "NUL"], id="nul-bytes"),
    ],
)
def test_unreadable_spec_file_is_exit_2(
    kind: str, names: list[str], pair: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "migration.yaml"
    if kind == "folder":
        spec.mkdir()
    elif kind == "binary":
        spec.write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe\xc3\x28")
    elif kind == "nul":
        spec.write_text("source:\x00 {url: x}\n", encoding="utf-8")
    code, out, err = _run(capsys, "check", "--spec", spec, *_outputs(tmp_path))
    assert_clean(code, out, err, tmp_path, expected=EXIT_BAD_INPUT, names=[str(spec), *names])


# --- connection URLs ----------------------------------------------------------------------------

UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1


@pytest.mark.parametrize(
    ("url", "expected", "names"),
    [
        # An engine pm-pipeline has no connector for.
        pytest.param(f"oracle://scott:{PREFIX}{SUFFIX}@db/x", 2, ["unknown scheme 'oracle'"], id="unknown-scheme"),
        # A port where no server listens (a typo of 5432): the connection fails, exit 3.
        pytest.param("postgresql://postgres@127.0.0.1:54321/x", 3, ["cannot connect"], id="closed-port"),
        # A port past 65535.
        pytest.param("postgresql://postgres@127.0.0.1:99999/x", 2, ["0-65535"], id="port-out-of-range"),
        # A port that is not a number.
        pytest.param("postgresql://postgres@127.0.0.1:pg/x", 2, ["malformed"], id="port-not-a-number"),
        # The database server is down: the system failed, not the input.
        pytest.param(f"postgresql://postgres:{PREFIX}{SUFFIX}@{UNREACHABLE}/x", 3, ["cannot connect", "***"],
                     id="unreachable-host"),
        # libpq's ?password= form: once a crash (the password given twice to the driver).
        pytest.param(f"postgresql://postgres@{UNREACHABLE}/x?password={PREFIX}{SUFFIX}", 3, ["cannot connect"],
                     id="query-password"),
        # A password given both ways: which one is meant?
        pytest.param(f"postgresql://postgres:{PREFIX}@{UNREACHABLE}/x?password={SUFFIX}", 2, ["password twice"],
                     id="password-twice"),
    ],
)  # fmt: skip
def test_bad_url_exit_code_and_no_secret(
    url: str,
    expected: int,
    names: list[str],
    pair: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(capsys, "check", "--source", url, "--target", pair[1], *_outputs(tmp_path))
    assert_clean(code, out, err, tmp_path, expected=expected, names=names)


# A password generated with every character class: the unencoded ones break URL parsing, and the
# piece the parser choked on used to be printed (in the error and in its --debug traceback).
ODD_CHARACTERS = [
    pytest.param("#", 2, id="hash"),
    pytest.param("/", 2, id="slash"),
    pytest.param("?", 2, id="question-mark"),
    pytest.param("@", 3, id="at-sign"),
    pytest.param(":", 3, id="colon"),
]


@pytest.mark.parametrize(("character", "expected"), ODD_CHARACTERS)
@pytest.mark.parametrize("where", ["command-line", "spec"])
def test_password_with_odd_character_is_never_printed(
    character: str,
    expected: int,
    where: str,
    pair: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    password = f"{PREFIX}{character}{SUFFIX}"
    if where == "spec":
        monkeypatch.setenv("PM_GALLERY_PASSWORD", password)
        spec = tmp_path / "migration.yaml"
        spec.write_text(
            f"source: {{url: 'postgresql://postgres:${{PM_GALLERY_PASSWORD}}@{UNREACHABLE}/x'}}\n"
            f"target: {{url: '{pair[1]}'}}\n{ITEMS}",
            encoding="utf-8",
        )
        where_args = ["--spec", str(spec)]
    else:
        where_args = ["--source", f"postgresql://postgres:{password}@{UNREACHABLE}/x", "--target", pair[1]]
    code, out, err = _run(capsys, "--debug", "check", *where_args, *_outputs(tmp_path))
    assert code == expected, err
    assert PREFIX not in out + err and SUFFIX not in out + err  # in the traceback too
    assert "postgres:***@" in err
    assert "Traceback" in err  # --debug shows it, masked


@pytest.mark.postgres
def test_query_password_is_used_as_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pg_db: PgDatabase
) -> None:
    # PostgreSQL here trusts local connections: the password is accepted whatever it is.
    url = f"{pg_db.url}?password={PREFIX}{SUFFIX}"
    pg_db.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
    code, out, err = _run(capsys, "check", "--source", url, "--target", url, *_outputs(tmp_path))
    assert_clean(code, out, err, tmp_path, expected=EXIT_OK, names=[])
    assert "password=***" in out


# --- the command line ---------------------------------------------------------------------------


def test_no_command_prints_the_usage_once(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = _run(capsys)
    assert_clean(code, out, err, tmp_path, expected=EXIT_BAD_INPUT, names=["required: command"])
    assert err.count("usage: pm-pipeline") == 1
    assert "pm-pipeline: error: pm-pipeline" not in err


def test_unknown_flag_names_it(
    pair: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "check", "--source", pair[0], "--target", pair[1], "--tabels", "items")
    assert_clean(
        code, out, err, tmp_path, expected=EXIT_BAD_INPUT, names=["unrecognized arguments: --tabels"]
    )


def test_source_without_target(
    pair: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "check", "--source", pair[0], *_outputs(tmp_path))
    assert_clean(code, out, err, tmp_path, expected=EXIT_BAD_INPUT, names=["--source needs --target"])


def _spec(tmp_path: Path, pair: tuple[str, str], extra: str = "") -> Path:
    spec = tmp_path / "migration.yaml"
    spec.write_text(f"source: {{url: '{pair[0]}'}}\ntarget: {{url: '{pair[1]}'}}\n{ITEMS}{extra}")
    return spec


@pytest.mark.parametrize(
    ("tables", "extra", "names"),
    [
        # A typo in --tables once compared nothing and printed PASS.
        pytest.param("nosuch", "", ["--tables nosuch", "not mapped in the spec", "maps items"], id="nothing"),
        # One good name must not hide a wrong one.
        pytest.param("items,nosuch", "", ["--tables nosuch", "maps items"], id="one-of-two"),
        # With discovery the name is looked for in the source, and what it holds is listed.
        pytest.param("nosuch", "discover: true\n", ["named in --tables", "holds items"], id="discover"),
    ],
)
def test_tables_selection_matching_nothing_is_exit_2(
    tables: str, extra: str, names: list[str], pair: tuple[str, str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    spec = _spec(tmp_path, pair, extra)
    code, out, err = _run(capsys, "check", "--spec", spec, "--tables", tables, *_outputs(tmp_path))
    assert_clean(code, out, err, tmp_path, expected=EXIT_BAD_INPUT, names=names)
    assert "PASS" not in out


def test_tables_without_spec_names_the_flag_and_what_exists(
    pair: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["check", "--source", pair[0], "--target", pair[1], "--tables", "nosuch", *_outputs(tmp_path)]
    code, out, err = _run(capsys, *args)
    assert_clean(
        code, out, err, tmp_path, expected=EXIT_BAD_INPUT, names=["named in --tables", "holds items"]
    )
    assert "named in the spec" not in err


# The name came from --tables, with no spec or beside a discovering spec's own list: the message
# said "named in the spec", sending the user to a file that does not name it.
@pytest.mark.parametrize("with_spec", [False, True], ids=["no-spec", "discovering-spec"])
def test_table_missing_in_the_target_names_the_flag(
    with_spec: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _sqlite(
        tmp_path / "s.db", "CREATE TABLE items (id INTEGER PRIMARY KEY)", "CREATE TABLE orders (id INTEGER)"
    )
    target = _sqlite(tmp_path / "t.db", "CREATE TABLE items (id INTEGER PRIMARY KEY)")
    where = ["--source", source, "--target", target]
    if with_spec:
        where = ["--spec", str(_spec(tmp_path, (source, target), "discover: true\n"))]
    code, out, err = _run(capsys, "check", *where, "--tables", "orders")
    assert_clean(
        code, out, err, tmp_path, expected=EXIT_BAD_INPUT, names=["'orders' named in --tables", "target"]
    )


@pytest.mark.parametrize(
    ("renames", "expected", "names"),
    [
        # A rename to a column the target lacks (a typo in the target name): a finding, not a crash.
        pytest.param("{name: label}", 1, [], id="to-a-missing-target-column"),
        # A rename of a column the source lacks: the spec is wrong, say where.
        pytest.param("{nme: label}", 2, ["table items", "nme", "the source table lacks"], id="missing-source-column"),
        # A rename onto a column another source column already fills: reading both crashed the run.
        pytest.param("{name: id}", 2, ["table items", "'id' and 'name' both map to target column 'id'"],
                     id="onto-a-taken-column"),
    ],
)  # fmt: skip
def test_rename_to_a_missing_column(
    renames: str, expected: int, names: list[str], pair: tuple[str, str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    spec = _spec(tmp_path, pair, f"    renames: {renames}\n")
    findings = tmp_path / "out" / "findings.json"
    code, out, err = _run(capsys, "check", "--spec", spec, *_outputs(tmp_path))
    assert_clean(code, out, err, tmp_path, expected=expected, names=names)
    if expected == 1:
        errors = [f for f in json.loads(findings.read_text())["findings"] if f["severity"] == "error"]
        assert [(f["column"], f["category"]) for f in errors] == [("name", "column_missing")]
        assert "label" in errors[0]["message"]


def test_relative_reports_folder_is_written_where_asked(
    pair: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Great Expectations refuses a relative Data Docs folder; every path is made absolute first.
    monkeypatch.chdir(tmp_path)
    spec = _spec(tmp_path, pair, "integrity:\n  expectations:\n    items:\n"
                 "      - {type: expect_column_values_to_not_be_null, column: name}\n")  # fmt: skip
    code, out, err = _run(
        capsys, "check", "--spec", spec.name, "--reports", "out/", "--json", "out/findings.json"
    )
    assert_clean(code, out, err, tmp_path, expected=EXIT_OK, names=[])
    assert (tmp_path / "out" / "latest" / "summary.md").stat().st_size > 0
    # Great Expectations wrote its docs into the set
    assert (tmp_path / "out" / "latest" / "data-docs" / "index.html").is_file()
    assert str(tmp_path / "out") in out  # printed absolute


@pytest.mark.parametrize(
    ("flag", "place", "names"),
    [
        # A file where the reports folder should go (a previous run's report, a typo).
        pytest.param("--reports", "file", ["--reports", "cannot write there"], id="reports-is-a-file"),
        # A folder that cannot be created: a file stands in its path.
        pytest.param(
            "--reports", "under-file", ["--reports", "cannot write there"], id="reports-under-a-file"
        ),
        # --json given a folder: the report would land beside it under another name.
        pytest.param("--json", "folder", ["--json", "is a folder"], id="json-is-a-folder"),
    ],
)
def test_unwritable_output_fails_before_the_run(
    flag: str, place: str, names: list[str], pair: tuple[str, str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    blocker = tmp_path / "blocker"
    blocker.write_text("keep me")
    if place == "folder":
        blocker = tmp_path / "a-folder"
        blocker.mkdir()
    path = blocker / "reports" if place == "under-file" else blocker
    code, out, err = _run(capsys, "check", "--source", pair[0], "--target", pair[1], flag, path)
    assert_clean(code, out, err, tmp_path, expected=EXIT_BAD_INPUT, names=[*names, str(path)])
    assert out == ""  # refused before comparing anything
    assert place == "folder" or blocker.read_text() == "keep me"


# --- the real console script: the exit code the shell sees --------------------------------------


def _console(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("pm-pipeline")
    return subprocess.run([str(script), *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_console_script_no_command_exit_2(tmp_path: Path) -> None:
    done = _console(tmp_path)
    assert done.returncode == 2 and done.stderr.count("usage: pm-pipeline") == 1
    assert "Traceback" not in done.stderr


def test_console_script_tables_nosuch_exit_2(pair: tuple[str, str], tmp_path: Path) -> None:
    done = _console(tmp_path, "check", "--spec", str(_spec(tmp_path, pair)), "--tables", "nosuch")
    assert done.returncode == 2 and "--tables nosuch" in done.stderr and "PASS" not in done.stdout


def test_console_script_unexpected_error_is_exit_3_in_one_line(tmp_path: Path) -> None:
    # A fault injected where no input can reach it: an exception pm-pipeline did not expect, whose
    # message quotes a connection URL. Its exit code must not read as "differences found".
    script = (
        "import sys\nimport pm_pipeline.cli.app as cli\n"
        "def broken(args):\n"
        f"    raise RuntimeError('lost postgresql://u:{PREFIX}@{SUFFIX}@h/db')\n"
        "cli._HANDLERS['audit'] = broken\n"
        "sys.argv = ['pm-pipeline', 'audit', 'verify', 'x']\ncli.entry()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "unexpected RuntimeError" in done.stderr and "run with --debug for the traceback" in done.stderr
    assert PREFIX not in done.stderr and SUFFIX not in done.stderr and "u:***@h/db" in done.stderr
