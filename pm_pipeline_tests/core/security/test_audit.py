"""The hash-chained audit log: appends chain, and any edit, deletion or reordering is detected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.security.audit import GENESIS, AuditLog, verify_audit_log


def _log(tmp_path: Path, count: int = 5) -> Path:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for index in range(count):
        log.append("step", actor=f"user{index % 2}", data={"index": index})
    return path


def test_records_chain_to_the_previous_hash(tmp_path: Path) -> None:
    path = _log(tmp_path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[0]["prev"] == GENESIS
    assert [r["prev"] for r in records[1:]] == [r["hash"] for r in records[:-1]]
    result = verify_audit_log(path)
    assert result.ok and result.records == 5 and result.last_hash == records[-1]["hash"]


def test_edit_is_detected(tmp_path: Path) -> None:
    path = _log(tmp_path)
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace('"index": 2', '"index": 7')
    path.write_text("\n".join(lines) + "\n")
    result = verify_audit_log(path)
    assert not result.ok and result.line == 3 and "edited" in (result.problem or "")


def test_edit_with_recomputed_hash_breaks_the_chain(tmp_path: Path) -> None:
    path = _log(tmp_path)
    lines = path.read_text().splitlines()
    forged = AuditLog(tmp_path / "other.jsonl").append("step", actor="user0", data={"index": 99})
    lines[0] = json.dumps(forged.__dict__, sort_keys=True)
    path.write_text("\n".join(lines) + "\n")
    result = verify_audit_log(path)
    assert not result.ok and result.line == 2


@pytest.mark.parametrize("mutation", ["delete", "swap"])
def test_deletion_and_reordering_are_detected(tmp_path: Path, mutation: str) -> None:
    path = _log(tmp_path)
    lines = path.read_text().splitlines()
    if mutation == "delete":
        del lines[1]
    else:
        lines[1], lines[2] = lines[2], lines[1]
    path.write_text("\n".join(lines) + "\n")
    result = verify_audit_log(path)
    assert not result.ok and result.line == 2 and "chain broken" in (result.problem or "")


def test_garbage_line_and_missing_file(tmp_path: Path) -> None:
    path = _log(tmp_path, 2)
    with open(path, "a") as handle:
        handle.write("not json\n")
    assert verify_audit_log(path).line == 3
    with pytest.raises(BadInputError, match="does not exist"):
        verify_audit_log(tmp_path / "nope.jsonl")
