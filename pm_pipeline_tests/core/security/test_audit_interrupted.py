"""An append interrupted between the log and its anchor: a warning, re-anchored by the next append, never a forgery's cover."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.cli import main
from pm_pipeline.core.errors import IntegrityRefusal, SystemFailure
from pm_pipeline.core.security.audit import AuditConfig, AuditLog

KEY = "a-secret-key-of-32-characters-00"
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nowhere"


@pytest.fixture(autouse=True)
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PM_AUDIT_KEY", KEY)


def _killed_before_its_anchor(tmp_path: Path) -> AuditLog:
    """Three records, then a fourth whose append stopped after the record reached the disk: the
    anchor file is the one the third record left."""
    log = AuditLog(tmp_path / "audit.jsonl")
    for index in range(3):
        log.append("check.run", actor="ci", data={"index": index})
    anchor = tmp_path / "audit.jsonl.anchor.json"
    anchored = anchor.read_bytes()
    log.append("check.run", actor="ci", data={"index": 3})
    anchor.write_bytes(anchored)
    return log


def _lines(log: AuditLog) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.path.read_text().splitlines()]


def test_an_interrupted_append_is_a_warning_and_the_next_append_anchors_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _killed_before_its_anchor(tmp_path)
    result = log.verify()
    assert result.ok and result.records == 4
    assert len(result.warnings) == 1 and "record 3 was written but not anchored" in result.warnings[0]
    log.require_writable()  # checks, rollbacks and approvals go on
    assert main(["audit", "verify", str(log.path)]) == 0
    assert "WARNING: anchor file" in capsys.readouterr().out
    log.append("check.run", actor="ci", data={"index": 4})
    result = log.verify()
    assert result.ok and result.warnings == () and "head (record 4) matches" in result.anchors[0]


def test_a_forged_record_past_the_anchor_is_still_tampering(tmp_path: Path) -> None:
    log = _killed_before_its_anchor(tmp_path)
    records = _lines(log)
    # The same place in the chain, its hash rebuilt by someone without the key.
    forged = dict(records[-1], actor="mallory")
    body = {k: v for k, v in forged.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    forged["hash"] = hashlib.sha256(text.encode()).hexdigest()
    log.path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in [*records[:-1], forged]))
    result = log.verify()
    assert not result.ok and result.line == 4 and "edited or forged" in (result.problem or "")
    with pytest.raises(IntegrityRefusal):
        log.require_writable()
    # An append that skipped the checks does not anchor the forged record into the chain's history.
    log.append("check.run", actor="ci")
    assert not log.verify().ok


def test_two_records_past_the_anchor_are_not_an_interrupted_append(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append("check.run", actor="ci")
    anchor = tmp_path / "audit.jsonl.anchor.json"
    anchored = anchor.read_bytes()
    log.append("check.run", actor="ci")
    log.append("check.run", actor="ci")
    anchor.write_bytes(anchored)
    result = log.verify()
    assert not result.ok and "2 record(s) after the anchored head" in (result.problem or "")


def test_an_unkeyed_record_past_the_anchor_stays_unexplained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without a key anyone could have written it: nothing tells an interrupted append from a bypass.
    monkeypatch.delenv("PM_AUDIT_KEY")
    log = _killed_before_its_anchor(tmp_path)
    result = log.verify()
    assert not result.ok and "never anchored" in (result.problem or "")


def test_an_anchor_table_lost_mid_append_is_repaired_by_the_next_append(tmp_path: Path, pg_db: Any) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, config=AuditConfig(anchor_url=pg_db.url))
    for index in range(3):
        log.append("check.run", actor="ci", data={"index": index})
    # While the anchor database is unreachable nothing is appended: the append reads the anchors first.
    with pytest.raises(SystemFailure, match="cannot connect"):
        AuditLog(path, config=AuditConfig(anchor_url=UNREACHABLE)).append("check.run", actor="ci")
    assert len(_lines(log)) == 3
    # Lost between the file and the table (a kill, the connection dropped): the table as record 2 left it.
    log.append("check.run", actor="ci", data={"index": 3})
    pg_db.execute("DELETE FROM pm_audit_records WHERE seq = 3")
    pg_db.execute(f"UPDATE pm_audit_anchors SET seq = 2, head = '{_lines(log)[2]['hash']}'")
    result = log.verify()
    assert result.ok and result.records == 4
    assert [w.split(": record")[0] for w in result.warnings] == [
        f"anchor table pm_audit_anchors at {pg_db.url}"
    ]
    log.append("check.run", actor="ci")
    result = log.verify()
    assert result.ok and result.warnings == ()
    copies = pg_db.query("SELECT seq, hash FROM pm_audit_records ORDER BY seq")
    assert copies == [(seq, record["hash"]) for seq, record in enumerate(_lines(log))]
    assert pg_db.query("SELECT seq FROM pm_audit_anchors") == [(4,)]
