"""Per-source check limits on the command line: N slots per source database, waits, refusals, slots freed by a crash."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pm_pipeline.cli import main
from pm_pipeline.core.errors import SystemFailure
from pm_pipeline.core.security.source_slots import source_slot

URL = "postgresql://app:secret@db1/shop"


def test_the_limit_holds_across_holders_and_a_freed_slot_is_taken(tmp_path: Path) -> None:
    with (
        source_slot(URL, limit=2, lock_dir=tmp_path) as first,
        source_slot(URL, limit=2, lock_dir=tmp_path) as second,
    ):
        assert {first, second} == {0, 1}
        with (
            pytest.raises(SystemFailure, match="2 check\\(s\\) already running"),
            source_slot(URL, limit=2, lock_dir=tmp_path, wait_seconds=0.3),
        ):
            pass
        # Another source database has slots of its own.
        with source_slot("postgresql://app:secret@db2/shop", limit=2, lock_dir=tmp_path, wait_seconds=0):
            pass
    waited: list[str] = []
    with source_slot(URL, limit=1, lock_dir=tmp_path):

        def third() -> None:
            with source_slot(URL, limit=1, lock_dir=tmp_path, wait_seconds=30, on_wait=waited.append):
                pass

        worker = threading.Thread(target=third)
        worker.start()
        time.sleep(0.5)
        assert worker.is_alive() and waited and "waiting up to 30 s" in waited[0]
    worker.join(timeout=10)
    assert not worker.is_alive()


def test_a_killed_holder_frees_its_slot(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from pm_pipeline.core.security.source_slots import source_slot\n"
         f"with source_slot({URL!r}, limit=1, lock_dir=Path({str(tmp_path)!r})):\n"
         "    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(SystemFailure), source_slot(URL, limit=1, lock_dir=tmp_path, wait_seconds=0):
        pass
    holder.kill()
    holder.wait(timeout=10)
    with source_slot(URL, limit=1, lock_dir=tmp_path, wait_seconds=5) as slot:
        assert slot == 0


def test_check_waits_then_gives_up_with_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    database = tmp_path / "d.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY)")
    url = f"sqlite:///{database}"
    with source_slot(url, limit=1, lock_dir=tmp_path / "pm-pipeline-source-slots"):
        code = main(["check", "--source", url, "--target", url, "--no-reports", "--no-progress",
                     "--runs-per-source", "1", "--slot-wait", "0.5"])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 3 and "waiting up to 0.5 s" in err and "1 check(s) already running" in err
        assert "waited 0.5 s" in err and "secret" not in err
    monkeypatch.setenv("PM_RUNS_PER_SOURCE", "1")
    code = main(["check", "--source", url, "--target", url, "--no-reports", "--no-progress"])
    assert code == 0, capsys.readouterr()
