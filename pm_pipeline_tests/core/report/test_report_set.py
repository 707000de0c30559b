"""Report sets: staged privately, published whole under their run id, verified against their manifest."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest

from pm_pipeline.cli import main
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.report.report_set import (
    LATEST,
    new_run_id,
    publish_report_set,
    staged_report_set,
    verify_report_set,
)


def _publish(root: Path, run_id: str, text: str) -> Path:
    with staged_report_set(root=root, run_id=run_id) as staged:
        assert stat.S_IMODE(staged.directory.stat().st_mode) == 0o700
        assert not staged.destination.exists()
        (staged.directory / "findings.json").write_text(text, encoding="utf-8")
        (staged.directory / "diffs").mkdir()
        (staged.directory / "diffs" / "t.parquet").write_bytes(b"PAR1")
        return publish_report_set(staged, metadata={"verdict": "ready"})


def test_a_published_set_verifies_and_latest_never_moves_back(tmp_path: Path) -> None:
    newer, older = "20260101T000002000Z-bbbbbb", "20260101T000001000Z-aaaaaa"
    published = _publish(tmp_path, newer, "{}")
    assert published == tmp_path / newer and os.readlink(tmp_path / LATEST) == newer
    # A run that started earlier but finished later does not become the latest.
    _publish(tmp_path, older, "{}")
    assert os.readlink(tmp_path / LATEST) == newer
    document, problems = verify_report_set(tmp_path)  # the root: its latest set
    assert problems == [] and document["run_id"] == newer and document["verdict"] == "ready"
    assert [f["path"] for f in document["files"]] == ["diffs/t.parquet", "findings.json"]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == sorted(
        [newer, older, LATEST]
    )


def test_verification_names_changed_missing_and_added_files(tmp_path: Path) -> None:
    published = _publish(tmp_path, new_run_id(), "{}")
    (published / "findings.json").write_text('{"edited": true}', encoding="utf-8")
    (published / "diffs" / "t.parquet").unlink()
    (published / "extra.txt").write_text("x", encoding="utf-8")
    _, problems = verify_report_set(published / "manifest.json")
    assert {(p.path, p.problem.split(" ")[0]) for p in problems} == {
        ("findings.json", "SHA-256"),
        ("diffs/t.parquet", "missing"),
        ("extra.txt", "not"),
    }


def test_a_run_that_fails_removes_only_what_it_staged(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("the user's", encoding="utf-8")
    with pytest.raises(RuntimeError), staged_report_set(root=tmp_path, run_id=new_run_id()) as staged:
        (staged.directory / "findings.json").write_text("{}", encoding="utf-8")
        raise RuntimeError("the check stopped")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    # The folders it created for its set go too; none it found.
    with pytest.raises(RuntimeError), staged_report_set(root=tmp_path / "a" / "b", run_id=new_run_id()):
        raise RuntimeError("the check stopped")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_run_ids_sort_by_start_time() -> None:
    first = new_run_id(dt.datetime(2026, 1, 1, 9, 0, 0, 5000, tzinfo=dt.UTC))
    second = new_run_id(dt.datetime(2026, 1, 1, 9, 0, 0, 6000, tzinfo=dt.UTC))
    assert first.startswith("20260101T090000005Z-") and first < second


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        # A manifest edited by hand, or written by another tool, that lost a field.
        ({"path": "findings.json"}, "'sha256' is missing"),
        ({"path": "findings.json", "sha256": "abc"}, "not 64 hexadecimal digits"),
        ({"sha256": "0" * 64}, "expected an object"),
        # Entries that would have the verifier hash files the set does not hold.
        ({"path": "../../etc/hostname", "sha256": "0" * 64}, "not a file inside the report set"),
        ({"path": "/etc/hostname", "sha256": "0" * 64}, "not a file inside the report set"),
    ],
)
def test_a_malformed_manifest_entry_is_bad_input_naming_it(
    tmp_path: Path, entry: dict[str, str], named: str
) -> None:
    published = _publish(tmp_path, new_run_id(), "{}")
    manifest = published / "manifest.json"
    document = json.loads(manifest.read_text(encoding="utf-8"))
    document["files"].append(entry)
    manifest.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(BadInputError, match=r"manifest\.json: files\[2\]") as raised:
        verify_report_set(manifest)
    assert named in str(raised.value) and raised.value.exit_code == 2
    assert main(["verify-manifest", str(manifest)]) == 2


def test_a_link_out_of_the_set_is_not_hashed(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("outside", encoding="utf-8")
    with staged_report_set(root=tmp_path / "reports", run_id=new_run_id()) as staged:
        (staged.directory / "findings.json").symlink_to(outside)
        published = publish_report_set(staged, metadata={})
    _, problems = verify_report_set(published)
    assert [(p.path, p.problem) for p in problems] == [("findings.json", "a link to a file outside the set")]
