"""A throwaway PostgreSQL cluster a test starts itself (initdb on a free port), for tests that need a
server to misbehave (stop, freeze) or to run with settings the shared server lacks
(``shared_preload_libraries``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("PM_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port: initdb, start, stop, freeze, thaw."""

    def __init__(self, root: Path, *, settings: str = "") -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.settings = settings  # more server options, e.g. "-c shared_preload_libraries=..."

    def _as_owner(self, *command: str | Path) -> subprocess.CompletedProcess[str]:
        # initdb and postgres refuse to run as root: they run as the postgres user then.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*prefix, *map(str, command)], capture_output=True, text=True, timeout=60, check=True
        )

    def create(self) -> None:
        self._as_owner(PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync",
                       "-E", "UTF8", "--locale=C.UTF-8")  # fmt: skip
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off {self.settings}"
        self._as_owner(
            PG_BIN / "pg_ctl", "-D", self.data, "-o", options, "-l", self.root / "log", "-w", "start"
        )

    def stop(self) -> None:
        self._as_owner(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def _pids(self) -> list[int]:
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True)
        return [postmaster, *map(int, children.stdout.split())]

    def freeze(self) -> None:
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, number: int) -> None:
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):  # a backend that just ended
                os.kill(pid, number)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, database: str, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unavailable(reason: str) -> None:
    if os.environ.get("PM_REQUIRE_SERVICES") == "1":
        pytest.fail(f"PM_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def private_postgres(prefix: str, *, settings: str = "") -> Iterator[PrivatePostgres]:
    """A started cluster in a temporary folder, stopped (thawed first) and removed afterwards; the
    test skips with the reason where one cannot start (fails under PM_REQUIRE_SERVICES=1)."""
    if not (PG_BIN / "initdb").is_file():
        unavailable(f"no PostgreSQL binaries in {PG_BIN} (set PM_TEST_PG_BIN)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        unavailable("running as root without runuser: initdb refuses root")
    root = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
    server = PrivatePostgres(root, settings=settings)
    try:
        server.create()
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        unavailable(f"cannot start a private PostgreSQL: {getattr(exc, 'stderr', '') or exc}")
    try:
        yield server
    finally:
        if server.running():
            server.thaw()
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
