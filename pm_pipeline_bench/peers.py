"""The peer tools, each installed once into its own virtualenv under the bench's work directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pm_pipeline.core.errors import SystemFailure


@dataclass(frozen=True)
class Peer:
    name: str
    requirements: tuple[str, ...]
    entry: str  # the executable used from the virtualenv's bin/


PEERS = {
    "reladiff": Peer("reladiff", ("reladiff[postgresql,mysql]==0.6.0",), "reladiff"),
    # datacompy pins its own Polars; DuckDB 2.x opens the bench's DuckDB files.
    "datacompy": Peer("datacompy", ("datacompy==1.1.0", "duckdb>=2.0,<3", "pyarrow"), "python"),
}
_STAMP = ".pm-bench-installed"


def _base_python() -> str:
    return shutil.which("python3.11") or sys.executable


def ensure_peer(peer: Peer, *, venvs: Path) -> Path:
    """The peer's executable, creating its virtualenv and installing it on first use."""
    home = venvs / peer.name
    stamp = home / _STAMP
    wanted = "\n".join(peer.requirements)
    if not (stamp.exists() and stamp.read_text() == wanted):
        print(f"installing {', '.join(peer.requirements)} into {home}", file=sys.stderr)
        _run([_base_python(), "-m", "venv", str(home)], what=f"creating the {peer.name} virtualenv")
        _run(
            [str(home / "bin" / "python"), "-m", "pip", "install", "--quiet", *peer.requirements],
            what=f"installing {peer.name}",
        )
        stamp.write_text(wanted)
    return home / "bin" / peer.entry


def installed_version(peer: Peer, *, venvs: Path) -> str:
    python = venvs / peer.name / "bin" / "python"
    package = peer.requirements[0].split("[")[0].split("=")[0]
    done = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def _run(command: list[str], *, what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise SystemFailure(f"{what} failed (exit {done.returncode}): {' | '.join(tail)}")
