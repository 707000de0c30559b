"""`pm-pipeline rollback approve --sign-with`: with rollback.allowed_signers, approvals are SSH-signed and counted per key holder."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml

from pm_pipeline.cli import main

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return code, out, err


def _key(folder: Path, name: str) -> Path:
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True, timeout=30
    )
    return key


def test_signed_approvals_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PM_AUDIT_KEY", raising=False)
    database = tmp_path / "t.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("INSERT INTO items VALUES (1, 'a')")
    keys = tmp_path / "keys"
    keys.mkdir()
    alice, bob = _key(keys, "alice"), _key(keys, "bob")
    signers = tmp_path / "allowed_signers"
    signers.write_text(f"alice@example.com {alice.with_suffix('.pub').read_text()}")
    spec = tmp_path / "spec.yaml"
    url = f"sqlite:///{database}"
    rollback = {"snapshot_dir": str(tmp_path / "snapshots"), "audit_log": str(tmp_path / "audit.jsonl"),
                "allowed_signers": str(signers)}  # fmt: skip
    spec.write_text(yaml.safe_dump({"source": {"url": url}, "target": {"url": url},
                                    "tables": [{"source": "items"}], "rollback": rollback}))  # fmt: skip
    assert _run(capsys, "rollback", "snapshot", "--spec", spec)[0] == 0
    code, out, _ = _run(capsys, "rollback", "plan", "--spec", spec)
    assert code == 0
    found = re.search(r"plan checksum: ([0-9a-f]{64})", out)
    assert found
    first = found.group(1)
    approve = ("rollback", "approve", "--spec", spec, "--plan-checksum", first)
    code, _, err = _run(capsys, *approve, "--approver", "alice")
    assert code == 2 and "--sign-with" in err
    code, out, _ = _run(capsys, *approve, "--approver", "Alice", "--sign-with", alice)
    assert code == 0 and "signed by the key of alice@example.com" in out and "1 of 2" in out
    code, _, err = _run(capsys, *approve, "--approver", "bob", "--sign-with", bob)
    assert code == 2 and "not listed" in err

    # Listing bob's key changes who may sign, so it is another plan: approvals start again.
    signers.write_text(signers.read_text() + f"bob@example.com {bob.with_suffix('.pub').read_text()}")
    code, out, _ = _run(capsys, "rollback", "plan", "--spec", spec)
    found = re.search(r"plan checksum: ([0-9a-f]{64})", out)
    assert code == 0 and found and found.group(1) != first and "approvals: 0 of 2" in out
    second = ("rollback", "approve", "--spec", spec, "--plan-checksum", found.group(1))
    assert _run(capsys, *second, "--approver", "alice", "--sign-with", alice)[0] == 0
    code, _, err = _run(capsys, *second, "--approver", "bob", "--sign-with", alice)
    assert code == 2 and "already approved" in err
    code, out, _ = _run(capsys, *second, "--approver", "bob", "--sign-with", bob)
    assert code == 0 and "2 of 2" in out
    code, out, _ = _run(capsys, "audit", "verify", tmp_path / "audit.jsonl")
    assert code == 0 and "chain intact" in out
