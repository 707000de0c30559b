"""Approvals bound to identities: one person under several spellings counts once; with allowed signers, N approvals are N SSH key holders."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from pm_pipeline.core.errors import BadInputError, IntegrityRefusal
from pm_pipeline.core.rollback.approvals import APPROVAL_EVENT, approvals_for, approve, require_approvals
from pm_pipeline.core.rollback.plan import RollbackPlan
from pm_pipeline.core.security.audit import AuditLog
from pm_pipeline.core.security.identity import normalise_identity

PLAN = RollbackPlan(
    snapshot_dir="snapshots/s1",
    snapshot_id="s1",
    target_url="sqlite:///t.db",
    engine="sqlite",
    load_order=("items",),
    deferred_cycles=(),
    steps=(),
    approvals_required=2,
    checksum="a" * 64,
)


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PM_AUDIT_KEY", raising=False)


# Spellings seen in approval forms: stray spaces, capitals, a full-width name pasted from a chat
# client, a zero-width space, a decomposed accent (NFD from macOS).
@pytest.mark.parametrize("spelling", [" Alice", "ALICE ", "Ａｌｉｃｅ", "al\u200bice", "alice\t"], ids=repr)
def test_two_spellings_of_one_name_count_once(tmp_path: Path, spelling: str) -> None:
    log = tmp_path / "audit.jsonl"
    approve(PLAN, approver="alice", audit_log=log)
    with pytest.raises(BadInputError, match=r"already approved .* one approval per person"):
        approve(PLAN, approver=spelling, audit_log=log)
    # Written behind the command's back, the second spelling still counts once.
    AuditLog(log).append(APPROVAL_EVENT, actor=spelling, data={"plan_checksum": PLAN.checksum})
    assert [a.identity for a in approvals_for(PLAN.checksum, audit_log=log)] == ["alice"]
    with pytest.raises(IntegrityRefusal, match="1 approval"):
        require_approvals(PLAN, audit_log=log)


def test_normalisation_keeps_different_people_apart() -> None:
    assert normalise_identity("José  García") == normalise_identity("jose\u0301 garci\u0301a")
    assert normalise_identity("alice") != normalise_identity("alicia")
    assert normalise_identity("  ") == ""


def test_old_records_without_identity_are_normalised_when_counted(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    for actor in ("Bob", "bob ", "carol"):
        log.append(APPROVAL_EVENT, actor=actor, data={"plan_checksum": PLAN.checksum})
    assert sorted(a.identity for a in approvals_for(PLAN.checksum, audit_log=log)) == ["bob", "carol"]


requires_ssh = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")


def _key(folder: Path, name: str) -> Path:
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True, timeout=30
    )
    return key


@pytest.fixture
def signers(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """Keys of alice and bob listed in an allowed_signers file, and mallory's key, not listed."""
    keys = tmp_path / "keys"
    keys.mkdir()
    alice, bob, mallory = (_key(keys, name) for name in ("alice", "bob", "mallory"))
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(
        "".join(
            f"{name}@example.com {key.with_suffix('.pub').read_text()}"
            for name, key in (("alice", alice), ("bob", bob))
        )
    )
    return allowed, alice, bob, mallory


@requires_ssh
def test_signed_approvals_count_key_holders_not_names(
    tmp_path: Path, signers: tuple[Path, Path, Path, Path]
) -> None:
    allowed, alice, bob, mallory = signers
    plan = replace(PLAN, allowed_signers=str(allowed))
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append("rollback.planned", actor="ops", data={"plan_checksum": plan.checksum})
    with pytest.raises(BadInputError, match="--sign-with"):
        approve(plan, approver="alice", audit_log=log)
    with pytest.raises(BadInputError, match="not listed"):
        approve(plan, approver="mallory", audit_log=log, sign_with=mallory)
    first = approve(plan, approver="alice", audit_log=log, sign_with=alice)
    assert first.identity == "alice@example.com" and first.signed
    # Alice's key under Bob's name is still Alice.
    with pytest.raises(BadInputError, match="already approved"):
        approve(plan, approver="bob", audit_log=log, sign_with=alice)
    # An unsigned approval written by hand does not count.
    log.append(APPROVAL_EVENT, actor="bob", data={"plan_checksum": plan.checksum, "identity": "bob"})
    assert [a.identity for a in approvals_for(plan.checksum, audit_log=log, allowed_signers=allowed)] == [
        "alice@example.com"
    ]
    with pytest.raises(IntegrityRefusal, match="1 signed approval"):
        require_approvals(plan, audit_log=log)
    approve(plan, approver="bob", audit_log=log, sign_with=bob)
    found = require_approvals(plan, audit_log=log)
    assert sorted(a.identity for a in found) == ["alice@example.com", "bob@example.com"]


@requires_ssh
def test_a_signature_replayed_for_another_plan_or_log_does_not_count(
    tmp_path: Path, signers: tuple[Path, Path, Path, Path]
) -> None:
    allowed, _, bob, _ = signers
    plan = replace(PLAN, allowed_signers=str(allowed))
    other_plan = replace(plan, checksum="b" * 64)
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append("rollback.planned", actor="ops", data={"plan_checksum": plan.checksum})
    approve(plan, approver="bob", audit_log=log, sign_with=bob)
    signature = json.loads(log.path.read_text().splitlines()[-1])["data"]["signature"]
    # Bob's signature of the first plan, copied into an approval of another plan.
    log.append(
        APPROVAL_EVENT, actor="bob", data={"plan_checksum": other_plan.checksum, "signature": signature}
    )
    assert approvals_for(other_plan.checksum, audit_log=log, allowed_signers=allowed) == []
    # The same signature copied into another tenant's log (another chain).
    other_log = AuditLog(tmp_path / "other.jsonl")
    other_log.append("rollback.planned", actor="ops", data={"plan_checksum": plan.checksum})
    other_log.append(
        APPROVAL_EVENT, actor="bob", data={"plan_checksum": plan.checksum, "signature": signature}
    )
    assert approvals_for(plan.checksum, audit_log=other_log, allowed_signers=allowed) == []
    assert [a.identity for a in approvals_for(plan.checksum, audit_log=log, allowed_signers=allowed)] == [
        "bob@example.com"
    ]
