"""A second `rollback plan` of the same plan keeps the plan file first saved, risk figures included."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pm_pipeline_tests.test_cli_rollback import (
    _damage_sqlite,
    _plan_checksum,
    _run,
    _sqlite_target,
    write_rollback_spec,
)


def test_a_rerun_after_the_target_was_put_back_keeps_the_first_plan_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Seen in a real rerun: reviewed again once the target matched the snapshot, the plan's saved
    # risk (rows changed since the snapshot) was replaced by zeros.
    url = _sqlite_target(tmp_path / "target.db")
    spec = write_rollback_spec(tmp_path, url, ["child", "parent"])
    assert _run(capsys, "rollback", "snapshot", "--spec", spec)[0] == 0
    _damage_sqlite(tmp_path / "target.db")
    code, out, _ = _run(capsys, "rollback", "plan", "--spec", spec)
    assert code == 0, out
    checksum = _plan_checksum(out)
    (saved,) = list(tmp_path.rglob(f"{checksum}.json"))
    first = saved.read_text(encoding="utf-8")
    assert json.loads(first)["risk"]["changed_rows"] > 0
    with sqlite3.connect(tmp_path / "target.db") as connection:  # as a restore leaves it
        connection.executescript("DELETE FROM parent WHERE id = 4; INSERT INTO child VALUES (12, 3, -4.5);")
    code, out, _ = _run(capsys, "rollback", "plan", "--spec", spec)
    assert code == 0 and _plan_checksum(out) == checksum
    assert f"plan already saved at {saved}: kept as first written" in out
    assert saved.read_text(encoding="utf-8") == first
    assert [p.name for p in saved.parent.iterdir() if p.name.startswith(".")] == []  # no temporary left
