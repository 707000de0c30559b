"""The keyed, anchored audit chain: edits rebuilt without the key, a truncated tail, appended and replayed records are detected."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.security.audit import GENESIS, AuditConfig, AuditLog, key_id

KEY = "a-secret-key-of-32-characters-00"


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PM_AUDIT_KEY", KEY)


@pytest.fixture
def unkeyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PM_AUDIT_KEY", raising=False)


def _log(tmp_path: Path, count: int = 4) -> AuditLog:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append("rollback.planned", actor="ops", data={"plan_checksum": "p1"})
    for index in range(1, count):
        log.append("rollback.approved", actor=f"user{index}", data={"plan_checksum": "p1", "index": index})
    return log


def _lines(log: AuditLog) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.path.read_text().splitlines()]


def _write(log: AuditLog, records: list[dict[str, Any]]) -> None:
    log.path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def _rechain(records: list[dict[str, Any]], *, start: int = 0) -> list[dict[str, Any]]:
    """What a forger without the key can do: recompute every hash from ``start`` on, as plain SHA-256."""
    for index in range(start, len(records)):
        record = records[index]
        record["prev"] = GENESIS if index == 0 else records[index - 1]["hash"]
        record["seq"] = index
        body = {k: v for k, v in record.items() if k != "hash"}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        record["hash"] = hashlib.sha256(text.encode()).hexdigest()
    return records


def test_keyed_chain_verifies_and_names_its_key(tmp_path: Path, keyed: None) -> None:
    log = _log(tmp_path)
    result = log.verify()
    assert result.ok and result.records == 4 and result.keyed
    assert result.key_id == key_id(KEY.encode())
    assert all(r.mac == "hmac-sha256" and r.anchors == ("file",) for r in log.records())
    assert any("head (record 3) matches" in note for note in result.anchors)


def test_keyed_log_without_or_with_another_key_is_bad_input(
    tmp_path: Path, keyed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _log(tmp_path)
    monkeypatch.delenv("PM_AUDIT_KEY")
    with pytest.raises(BadInputError, match=r"is keyed .* set PM_AUDIT_KEY"):
        log.verify()
    with pytest.raises(BadInputError, match="is keyed"):
        log.append("rollback.approved", actor="mallory")
    monkeypatch.setenv("PM_AUDIT_KEY", "another-key-of-enough-length")
    with pytest.raises(BadInputError, match="keyed with k-"):
        log.verify()
    monkeypatch.setenv("PM_AUDIT_KEY", "short")
    with pytest.raises(BadInputError, match="at least 16"):
        log.verify()


@pytest.mark.parametrize("how", ["plain sha-256", "guessed key"])
def test_edit_and_rebuild_without_the_key_is_detected(tmp_path: Path, keyed: None, how: str) -> None:
    log = _log(tmp_path)
    records = _lines(log)
    records[1]["actor"] = "mallory"
    if how == "plain sha-256":
        # The forger rebuilds the chain as an unkeyed one: refused once a key is given.
        for record in records:
            record["mac"], record["key"] = "sha256", None
        _write(log, _rechain(records))
        result = log.verify()
        assert not result.ok and "anchored for another chain" in (result.problem or "")
    else:
        # The forger keeps the keyed format but cannot compute the HMAC.
        _write(log, _rechain(records, start=1))
        result = log.verify()
        assert not result.ok and result.line == 2 and "edited or forged" in (result.problem or "")


def test_edit_and_rebuild_of_an_unkeyed_chain_is_caught_by_the_anchor(tmp_path: Path, unkeyed: None) -> None:
    log = _log(tmp_path)
    assert log.verify().ok and not log.verify().keyed
    records = _lines(log)
    records[2]["actor"] = "mallory"
    _write(log, _rechain(records, start=2))
    result = log.verify()
    assert not result.ok and "the chain was rebuilt" in (result.problem or "")
    records[0]["actor"] = "mallory"
    _write(log, _rechain(records))
    result = log.verify()
    assert not result.ok and "another chain" in (result.problem or "")


@pytest.mark.parametrize("key", [KEY, None])
def test_truncated_tail_is_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str | None) -> None:
    if key:
        monkeypatch.setenv("PM_AUDIT_KEY", key)
    else:
        monkeypatch.delenv("PM_AUDIT_KEY", raising=False)
    log = _log(tmp_path)
    _write(log, _lines(log)[:2])
    result = log.verify()
    assert not result.ok and "2 record(s) were removed from the end" in (result.problem or "")
    _write(log, [])
    result = log.verify()
    assert not result.ok and "every record was removed" in (result.problem or "")


def test_appended_forgery_is_detected(tmp_path: Path, keyed: None) -> None:
    log = _log(tmp_path)
    records = _lines(log)
    forged = dict(records[-1], actor="mallory", data={"plan_checksum": "p1"})
    _write(log, _rechain([*records, forged], start=len(records)))
    result = log.verify()
    assert not result.ok and result.line == 5 and "edited or forged" in (result.problem or "")
    forged.update(mac="sha256", key=None)
    _write(log, _rechain([*records, forged], start=len(records)))
    result = log.verify()
    assert not result.ok and "unkeyed record after keyed ones" in (result.problem or "")


def test_appended_forgery_in_an_unkeyed_chain_is_caught_by_the_anchor(tmp_path: Path, unkeyed: None) -> None:
    log = _log(tmp_path)
    records = _lines(log)
    forged = dict(records[-1], actor="mallory")
    _write(log, _rechain([*records, forged], start=len(records)))
    result = log.verify()
    assert not result.ok and "never anchored" in (result.problem or "")


def test_replayed_approval_is_detected(tmp_path: Path, keyed: None) -> None:
    log = _log(tmp_path)
    records = _lines(log)
    # The approval copied as it is: its link and sequence number no longer fit.
    _write(log, [*records, records[1]])
    result = log.verify()
    assert not result.ok and "replayed" in (result.problem or "")
    # Copied and fitted to the end of the chain: its keyed hash cannot be recomputed without the key.
    copy = dict(records[1], mac="hmac-sha256")
    _write(log, _rechain([*records, copy], start=len(records)))
    result = log.verify()
    assert not result.ok and result.line == 5 and "edited or forged" in (result.problem or "")


def test_deleted_anchor_is_detected_when_the_log_claims_it(tmp_path: Path, keyed: None) -> None:
    log = _log(tmp_path)
    (tmp_path / "audit.jsonl.anchor.json").unlink()
    result = log.verify()
    assert not result.ok and "no anchor of this log's head" in (result.problem or "")
    unanchored = AuditLog(log.path, config=AuditConfig(file_anchor=False))
    result = unanchored.verify()
    assert not result.ok and "anchored in file, which is not given here" in (result.problem or "")


def test_version_1_logs_stay_readable_and_continue_keyed(tmp_path: Path, keyed: None) -> None:
    path = tmp_path / "old.jsonl"
    old: list[dict[str, Any]] = []
    for seq, actor in enumerate(["alice", "bob"]):
        record = {"seq": seq, "at": "2026-01-01T00:00:00+00:00", "event": "rollback.approved", "actor": actor,
                  "data": {"plan_checksum": "p0"}, "prev": old[-1]["hash"] if old else GENESIS}  # fmt: skip
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        old.append({**record, "hash": hashlib.sha256(text.encode()).hexdigest()})
    path.write_text("".join(json.dumps(r) + "\n" for r in old))
    log = AuditLog(path)
    # Read before any new record: the key is given, but nothing is keyed yet (no record written with it).
    assert [r.actor for r in log.records()] == ["alice", "bob"]
    before = log.verify()
    assert before.ok and not before.keyed and before.unkeyed == 2
    log.append("rollback.approved", actor="carol", data={"plan_checksum": "p0"})
    result = log.verify()
    assert result.ok and result.keyed and result.unkeyed == 2 and result.records == 3
    records = _lines(log)
    _write(log, [*records, dict(old[0], seq=3)])
    result = log.verify()
    assert not result.ok and "old-format" in (result.problem or "")


def test_postgresql_anchor_catches_a_truncation_the_file_cannot(
    tmp_path: Path, keyed: None, pg_db: Any
) -> None:
    config = AuditConfig(anchor_url=pg_db.url, file_anchor=False)
    log = AuditLog(tmp_path / "audit.jsonl", config=config)
    for index in range(3):
        log.append("check.run", actor="ci", data={"index": index})
    result = log.verify()
    assert result.ok and any("pm_audit_anchors" in note and "record 2" in note for note in result.anchors)
    rows = pg_db.query("SELECT seq, head FROM pm_audit_anchors")
    assert rows == [(2, _lines(log)[-1]["hash"])]
    _write(log, _lines(log)[:1])
    result = log.verify()
    assert not result.ok and "pm_audit_anchors" in (result.problem or "")
    assert "2 record(s) were removed from the end" in (result.problem or "")


def test_a_log_written_before_the_key_continues_keyed(
    tmp_path: Path, unkeyed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _log(tmp_path, 2)
    monkeypatch.setenv("PM_AUDIT_KEY", KEY)
    before = log.verify()
    assert before.ok and not before.keyed and before.unkeyed == 2
    log.append("rollback.approved", actor="carol", data={"plan_checksum": "p1"})
    after = log.verify()
    assert after.ok and after.keyed and after.unkeyed == 2 and after.records == 3
    # From then on an unkeyed record is a forgery.
    records = _lines(log)
    _write(log, _rechain([*records, dict(records[-1], mac="sha256", key=None)], start=3))
    assert "unkeyed record after keyed ones" in (log.verify().problem or "")


def test_postgresql_keeps_every_record_and_names_the_one_rewritten(
    tmp_path: Path, unkeyed: None, pg_db: Any
) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", config=AuditConfig(anchor_url=pg_db.url))
    for index in range(4):
        log.append("check.run", actor="ci", data={"index": index})
    copies = pg_db.query("SELECT seq, record->>'actor', hash FROM pm_audit_records ORDER BY seq")
    assert [(seq, actor) for seq, actor, _ in copies] == [(0, "ci"), (1, "ci"), (2, "ci"), (3, "ci")]
    assert [digest for _, _, digest in copies] == [r["hash"] for r in _lines(log)]
    # An unkeyed chain rebuilt from record 1 on, and the head anchors rewritten to match it: the
    # record-by-record copy still names the first rewritten record.
    records = _lines(log)
    records[1]["actor"] = "mallory"
    _write(log, _rechain(records, start=1))
    head = records[-1]["hash"]
    pg_db.execute(f"UPDATE pm_audit_anchors SET head = '{head}'")
    (tmp_path / "audit.jsonl.anchor.json").write_text(
        json.dumps({"chain": records[0]["hash"], "seq": 3, "head": head})
    )
    result = log.verify()
    assert not result.ok and "record 1 differs from the copy kept in pm_audit_records" in (
        result.problem or ""
    )
