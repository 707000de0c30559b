"""Parse the pm-pipeline command line, run the command, and turn whatever it raised into an exit code."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from pm_pipeline.cli.check import add_check_parser, run_check_command
from pm_pipeline.cli.common import (
    EXIT_DIFFERENCES,
    EXIT_OK,
    EXIT_SYSTEM,
    CommandParser,
    UsageError,
    forget_secrets,
    mask_url,
    masked,
    remember_secrets,
)
from pm_pipeline.cli.perf import add_perf_parser
from pm_pipeline.cli.rollback import add_rollback_parser
from pm_pipeline.cli.workspace import add_workspace_parser
from pm_pipeline.core.errors import PmError


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="pm-pipeline", description="Post-migration reconciliation and support.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)

    add_check_parser(commands)

    validate = commands.add_parser("validate-spec", help="validate a migration spec and exit")
    validate.add_argument("spec", type=Path)

    verify = commands.add_parser(
        "verify-manifest",
        help="recompute a checksum manifest, or the file hashes of a report set; exit 1 if any differs",
    )
    verify.add_argument(
        "manifest", type=Path, help="a checksum manifest, or a report set (its folder or manifest.json)"
    )
    verify.add_argument("--spec", type=Path, help="spec giving the connection URLs (with their secrets)")

    audit = commands.add_parser("audit", help="the keyed, hash-chained audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, parser_class=CommandParser)
    audit_verify = audit_commands.add_parser(
        "verify",
        help="check the chain, its key and its anchors: any edit, rebuild, removal or forgery exits 1",
    )
    audit_verify.add_argument("log", type=Path, nargs="?", help="the log (default: the spec's audit log)")
    audit_verify.add_argument("--spec", type=Path, help="take the log, key and anchors from this spec")
    audit_verify.add_argument("--key-env", help="environment variable holding the key (default PM_AUDIT_KEY)")
    audit_verify.add_argument(
        "--anchor-file", type=Path, help="the head's anchor file (default <log>.anchor.json)"
    )
    audit_verify.add_argument("--anchor-url", help="PostgreSQL URL of the anchor table pm_audit_anchors")
    audit_verify.add_argument(
        "--tenants",
        type=Path,
        help="verify every tenant's log, each in its tenant's own environment (after `pm-pipeline workspace`)",
    )

    add_rollback_parser(commands)
    add_workspace_parser(commands)
    add_perf_parser(commands)

    demo = commands.add_parser("demo", help="build the embedded demo databases and run the whole pipeline")
    demo.add_argument("--dir", type=Path, default=None, help="where the demo databases and reports go")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every exception ends here as an exit code and one line on stderr.

    0 pass, 1 differences found, 2 the user's input is wrong, 3 a system failed, the run is
    incomplete, or pm-pipeline itself failed (an exception it did not expect)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    forget_secrets()
    remember_secrets(*(arg for arg in args_list if "://" in arg))
    command = "pm-pipeline"
    try:
        args = build_parser().parse_args(args_list)
        command = f"pm-pipeline {args.command}"
        handler: Callable[[argparse.Namespace], int] = _HANDLERS[args.command]
        return handler(args)
    except UsageError as exc:
        print(exc.usage.rstrip(), file=sys.stderr)
        return _failed(exc, debug=debug, line=f"{exc.prog}: error: {exc}", code=exc.exit_code)
    except PmError as exc:
        return _failed(exc, debug=debug, line=f"pm-pipeline: error: {exc}", code=exc.exit_code)
    except KeyboardInterrupt as exc:
        return _failed(exc, debug=debug, line="pm-pipeline: interrupted", code=EXIT_SYSTEM)
    except OSError as exc:
        # A file or the system refused (disk full, permissions): the system failed, not the data.
        what = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
        return _failed(exc, debug=debug, line=f"{command}: error: {what}", code=EXIT_SYSTEM)
    except Exception as exc:  # the one edge where any failure becomes an exit code
        where = _raised_at(exc)
        line = (
            f"{command}: error: unexpected {type(exc).__name__}{where}: {exc}; "
            "run with --debug for the traceback"
        )
        return _failed(exc, debug=debug, line=line, code=EXIT_SYSTEM)


def _failed(exc: BaseException, *, debug: bool, line: str, code: int) -> int:
    """Print the error (and with --debug its traceback), passwords masked in both."""
    if debug:
        print(masked("".join(traceback.format_exception(exc))).rstrip(), file=sys.stderr)
    print(masked(" ".join(line.split())), file=sys.stderr)  # one line, whatever the message held
    return code


def _raised_at(exc: BaseException) -> str:
    """Where in pm-pipeline an unexpected exception came from: the last frame of our own code."""
    ours = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if f"{os.sep}pm_pipeline{os.sep}" in frame.filename
    ]
    if not ours:
        return ""
    frame = ours[-1]
    module = frame.filename[frame.filename.rindex(f"{os.sep}pm_pipeline{os.sep}") + 1 :]
    return f" in {module}:{frame.lineno} ({frame.name})"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def entry() -> None:
    """The console script: ``main``, then the usual exit, minus its last garbage collection.

    That collection would walk every object the loaded libraries (pandas, ADBC, DuckDB, ...)
    hold, about a quarter of a second, to free memory the process is about to give back anyway.
    Everything else of an exit happens as usual: exit handlers, threads waited for, files closed.
    """
    # A terminated run (a CI job cancelled, a container stopped) unwinds like Ctrl-C: its temporary
    # folders and staging report set are removed and it exits 3, instead of dying where it stood.
    signal.signal(signal.SIGTERM, _interrupt)
    _few_malloc_arenas()
    code = main()
    gc.freeze()  # objects alive now are no longer tracked: the final collection skips them
    sys.exit(code)


def _few_malloc_arenas(arenas: int = 2) -> None:
    """At most ``arenas`` glibc malloc arenas for the threads to come. By default glibc gives each
    thread that allocates at once an arena of its own (up to 8 per core), and the memory freed in
    each stays with it: a check's reading, hashing and profiling threads left the 10M-row
    MariaDB->PostgreSQL check at 900-1,000 MB of peak memory against 740 MB with two arenas, in
    the same time (docs/benchmarks.md). Nothing changes where the C library is not glibc."""
    import ctypes

    try:
        mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # the C library the process runs on
    except OSError:
        return
    if mallopt is not None:
        mallopt(-8, arenas)  # M_ARENA_MAX


def _validate(args: argparse.Namespace) -> int:
    from pm_pipeline.core.config import load_spec

    spec = load_spec(args.spec)
    print(
        f"{args.spec}: valid ({len(spec.tables)} table mapping(s), source {mask_url(spec.source.url)}, "
        f"target {mask_url(spec.target.url)})"
    )
    return EXIT_OK


def _verify_manifest(args: argparse.Namespace) -> int:
    from pm_pipeline.cli.verify import run_verify_manifest, run_verify_report_set
    from pm_pipeline.core.report.report_set import is_report_set_manifest

    if args.manifest.is_dir() or is_report_set_manifest(args.manifest):
        return EXIT_OK if run_verify_report_set(args.manifest) else EXIT_DIFFERENCES

    return EXIT_OK if run_verify_manifest(manifest=args.manifest, spec_path=args.spec) else EXIT_DIFFERENCES


def _audit(args: argparse.Namespace) -> int:
    from pm_pipeline.cli.audit import run_audit_verify

    return run_audit_verify(args)


def _workspace(args: argparse.Namespace) -> int:
    from pm_pipeline.cli.workspace import run_workspace

    return run_workspace(args)


def _rollback(args: argparse.Namespace) -> int:
    from pm_pipeline.cli.rollback import run_rollback

    return run_rollback(args)


def _perf(args: argparse.Namespace) -> int:
    from pm_pipeline.cli.perf import run_perf

    return run_perf(args)


def _demo(args: argparse.Namespace) -> int:
    from pm_pipeline.demo.run import run_demo

    directory = args.dir or Path(os.environ.get("PM_DEMO_DIR", "demo_output"))
    return int(run_demo(directory=directory.resolve()))


_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "check": run_check_command,
    "validate-spec": _validate,
    "verify-manifest": _verify_manifest,
    "audit": _audit,
    "rollback": _rollback,
    "workspace": _workspace,
    "perf": _perf,
    "demo": _demo,
}
