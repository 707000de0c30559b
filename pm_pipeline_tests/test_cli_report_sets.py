"""`pm-pipeline check` report sets: concurrent runs into one folder, kill -9 while writing, files of
others left alone, the spec's reports.directory, and manifests that verify."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pm_pipeline.cli import main

PARTIAL = ".partial"


def _sqlite(path: Path, rows: str) -> str:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price DECIMAL(8,2))")
        connection.execute(f"INSERT INTO items VALUES {rows}")
    return f"sqlite:///{path}"


@pytest.fixture
def pair(tmp_path: Path) -> tuple[str, str]:
    """A migration with one changed value, so every report has something to say."""
    source = _sqlite(tmp_path / "s.db", "(1, 'a', '1.50'), (2, 'b', '2.00')")
    target = _sqlite(tmp_path / "t.db", "(1, 'a', '1.50'), (2, 'B', '2.00')")
    return source, target


def _check_args(pair: tuple[str, str], reports: Path) -> list[str]:
    return [
        "check",
        "--source",
        pair[0],
        "--target",
        pair[1],
        "--reports",
        str(reports),
        "--no-progress",
        "--no-integrity",
    ]


def _sets(root: Path) -> list[Path]:
    return sorted(
        p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
    )


def _assert_consistent(report_set: Path) -> None:
    """The set verifies, and its files belong to one run: the run id and the evidence pack's hash."""
    assert main(["verify-manifest", str(report_set)]) == 0
    findings = json.loads((report_set / "findings.json").read_text(encoding="utf-8"))
    assert findings["run"]["run_id"] == report_set.name
    evidence = json.loads((report_set / "evidence-pack.json").read_text(encoding="utf-8"))
    digest = hashlib.sha256((report_set / "findings.json").read_bytes()).hexdigest()
    assert evidence["artifacts"]["findings.json"] == f"sha256:{digest}"
    assert evidence["run"]["run_id"] == report_set.name
    # Paths inside the set name its published place, never its staging folder.
    assert PARTIAL not in (report_set / "findings.json").read_text(encoding="utf-8")
    assert PARTIAL not in (report_set / "report.html").read_text(encoding="utf-8")
    for table in findings["tables"]:
        assert table["diff_path"] is None or Path(table["diff_path"]).is_relative_to(report_set)


def test_four_concurrent_checks_into_one_folder_publish_four_whole_sets(
    pair: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = tmp_path / "reports"
    command = [sys.executable, "-m", "pm_pipeline.cli", *_check_args(pair, reports)]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)
    ]
    outputs = [run.communicate(timeout=240) for run in runs]
    assert [run.returncode for run in runs] == [1, 1, 1, 1], outputs
    sets = _sets(reports)
    assert len(sets) == 4
    # Each run names its own set on its last line.
    assert sorted(out.rstrip().splitlines()[-1] for out, _ in outputs) == [f"reports: {s}" for s in sets]
    for report_set in sets:
        _assert_consistent(report_set)
    assert os.readlink(reports / "latest") == sets[-1].name  # the run that started last
    assert not [p for p in reports.iterdir() if p.name.endswith(PARTIAL)]
    capsys.readouterr()


# Where the subprocess kills itself (SIGKILL, as `kill -9` would), wrapping the product's own
# functions from the outside: while a PDF is being written (the set half written), after the
# manifest but before the rename, and after the rename but before `latest` moves.
KILL_POINTS = {
    "writing": ("pm_pipeline.core.report.html", "write_pdf"),
    "before-rename": ("pm_pipeline.core.report.report_set", "_open_up"),
    "before-latest": ("pm_pipeline.core.report.report_set", "_point_latest"),
}
KILLER = """
import importlib, os, signal, sys
module_name, function = {target!r}
module = importlib.import_module(module_name)
original = getattr(module, function)
def killed(*args, **kwargs):
    if function == "write_pdf":
        original(*args, **kwargs)  # one PDF whole, then the process dies in the middle of the set
    os.kill(os.getpid(), signal.SIGKILL)
setattr(module, function, killed)
from pm_pipeline.cli import main
sys.exit(main({args!r}))
"""


def test_kill_9_while_writing_leaves_the_old_set_or_the_new_one(
    pair: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = tmp_path / "reports"
    assert main(_check_args(pair, reports)) == 1
    (old,) = _sets(reports)
    staged_before: set[Path] = set()
    for point in ("writing", "before-rename", "before-latest"):  # one folder, one run killed at each
        sets_before = _sets(reports)
        script = KILLER.format(target=KILL_POINTS[point], args=_check_args(pair, reports))
        killed = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=240
        )
        assert killed.returncode == -9, (point, killed.stderr)
        assert os.readlink(reports / "latest") == old.name, point  # readers still see the whole old set
        published = [s for s in _sets(reports) if s not in sets_before]
        staged = {p for p in reports.iterdir() if p.name.endswith(PARTIAL)}
        if point == "before-latest":
            (new,) = published  # renamed whole, never named latest: complete all the same
            _assert_consistent(new)
            assert staged == staged_before
        else:
            # The half-written set stays hidden under its staging name, private: never a set.
            assert published == [], point
            (this,) = staged - staged_before
            assert (this.stat().st_mode & 0o777) == 0o700
            assert (this / "manifest.json").exists() == (point == "before-rename")
            staged_before = staged
    _assert_consistent(old)
    capsys.readouterr()


def test_json_and_html_files_leave_the_other_files_of_their_folder_alone(
    pair: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    others = {"findings.json": "another run's", "report.html": "someone's", "notes.txt": "the user's"}
    for name, text in others.items():
        (shared / name).write_text(text, encoding="utf-8")
    args = ["check", "--source", pair[0], "--target", pair[1], "--no-progress", "--no-integrity"]
    code = main([*args, "--json", str(shared / "mine.json"), "--html", str(shared / "mine.html")])
    assert code == 1
    out = capsys.readouterr().out
    assert {p.name: p.read_text(encoding="utf-8") for p in shared.iterdir() if p.name in others} == others
    assert sorted(p.name for p in shared.iterdir()) == sorted([*others, "mine.html", "mine.json"])
    assert json.loads((shared / "mine.json").read_text(encoding="utf-8"))["findings"]
    assert out.rstrip().splitlines()[-1] == f"json: {shared / 'mine.json'}"
    assert "reports:" not in out  # no report set besides the files named


def test_check_spec_writes_its_set_into_the_specs_reports_directory(
    pair: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "migration.yaml"
    spec.write_text(
        f"name: shop\nsource: {{url: '{pair[0]}'}}\ntarget: {{url: '{pair[1]}'}}\n"
        "tables:\n  - source: items\nreports: {directory: evidence/checks}\n",
        encoding="utf-8",
    )
    assert main(["check", "--spec", str(spec), "--no-progress", "--no-integrity"]) == 1
    out = capsys.readouterr().out
    (report_set,) = _sets(tmp_path / "evidence" / "checks")
    assert out.rstrip().splitlines()[-1] == f"reports: {report_set}"
    _assert_consistent(report_set)
    assert json.loads((report_set / "manifest.json").read_text(encoding="utf-8"))["spec_name"] == "shop"
