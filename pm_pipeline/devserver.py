"""`make ui`: the Dagster UI (`dagster dev`) on a chosen port, stopped by SIGINT or SIGTERM.

`dagster dev` started without a terminal ignores SIGINT and outlives SIGTERM (its webserver and
daemon keep running). This launcher starts it in a session of its own and, on either signal, sends
SIGINT to that whole process group, then SIGKILL to what is left after a grace period.

    python -m pm_pipeline.devserver [--port 3000] [--host 127.0.0.1] [--workspace workspace.yaml]
"""

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

GRACE_SECONDS = 30.0
EXIT_BAD_INPUT = 2


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def stop_group(process: subprocess.Popen[bytes], *, grace_seconds: float = GRACE_SECONDS) -> int:
    """SIGINT to the server's process group, SIGKILL after ``grace_seconds``; its exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # The daemon and code servers are children in the same group: none may outlive the launcher.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.returncode


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pm_pipeline.devserver", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--port", type=int, default=3000, help="port of the UI (default 3000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--workspace", default="workspace.yaml", help="workspace file (default workspace.yaml)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if not 0 < args.port < 65536:
        print(f"devserver: port {args.port} is not a TCP port (1-65535)", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not Path(args.workspace).is_file():
        print(f"devserver: workspace file {args.workspace} not found", file=sys.stderr)
        return EXIT_BAD_INPUT
    if port_in_use(args.host, args.port):
        print(
            f"devserver: port {args.port} on {args.host} is in use; choose another: make ui PORT=...",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    dagster = str(Path(sys.executable).with_name("dagster"))
    command = [dagster, "dev", "-w", args.workspace, "-h", args.host, "-p", str(args.port)]
    process = subprocess.Popen(command, start_new_session=True)
    stopping: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    print(f"Dagster UI on http://{args.host}:{args.port} (stop with Ctrl-C or SIGTERM)", flush=True)
    while process.poll() is None and not stopping:
        time.sleep(0.2)
    code = stop_group(process)
    if stopping:
        print(f"devserver: stopped on {signal.Signals(stopping[0]).name}", file=sys.stderr)
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
