"""The pm-pipeline command.

Exit codes: 0 all checks pass (warnings allowed), 1 differences found, 2 bad input or usage, 3 a
system failed, or the run is incomplete (a check could not run to the end: its reports are written),
or pm-pipeline raised an exception it did not expect. ``main`` maps every exception to one of them:
errors are one actionable line on stderr, passwords masked; --debug adds the (masked) traceback.
"""

from __future__ import annotations

import argparse
import gc
import getpass
import os
import re
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from pm_pipeline.core.errors import BadInputError, PmError

if TYPE_CHECKING:
    from pm_pipeline.core.security.audit import AuditLog
    from pm_pipeline.core.verdict import VerdictState

# Start-up: `--help`, usage errors and `validate-spec` must answer in a fraction of a second, so
# this module imports nothing heavy (pyarrow, pandas, DuckDB, the reconciliation engine, the spec's
# pydantic models) at import time; each command imports what it needs when it runs.
# pm_pipeline_tests/test_cli_startup.py holds it to that.

EXIT_OK, EXIT_DIFFERENCES, EXIT_BAD_INPUT, EXIT_SYSTEM = 0, 1, 2, 3


class UsageError(BadInputError):
    """The command line itself is wrong: shown with the usage of the (sub-)command concerned."""

    def __init__(self, message: str, *, prog: str, usage: str) -> None:
        super().__init__(message)
        self.prog = prog
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see --help)", prog=self.prog, usage=self.format_usage())


# The spec's STRATEGIES, written out so that building the parser loads no pydantic model (argparse
# reads the choices as soon as the option is added); test_cli_startup holds the two equal.
CHECK_STRATEGIES = ("auto", "arrow", "pushdown", "bucket")


def mask_url(url: str) -> str:
    """``url`` with its password masked (the connectors' rule, loaded when a URL is first shown)."""
    from pm_pipeline.core.connectors import mask_url as connectors_mask_url

    return connectors_mask_url(url)


# Passwords of the connection URLs this run was given, masked in every message it prints (driver
# messages may quote them outside any URL).
_SECRETS: set[str] = set()
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def remember_secrets(*urls: str) -> None:
    """Mask the passwords of ``urls`` in whatever this command prints from now on."""
    for url in urls:
        _, separator, rest = url.partition("://")
        at = rest.rfind("@")
        if separator and at >= 0 and not rest.startswith("/"):
            _, colon, password = rest[:at].partition(":")
            if colon and password:
                _SECRETS.update({password, unquote(password), quote(password, safe="")})
        _SECRETS.update(
            value for _, value in re.findall(r"(?i)[?&;]([a-z_]*pass(?:word)?|pwd)=([^&;#\s]+)", url)
        )


def masked(text: str) -> str:
    """``text`` with every URL's password and every known password replaced by ***."""
    text = _URL.sub(lambda match: mask_url(match.group(0)), text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if len(secret) >= 4:  # shorter ones would mask ordinary words; their URLs are masked above
            text = text.replace(secret, "***")
    return text


def table_list(value: str) -> list[str]:
    """An argparse type: a comma-separated list of table names."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of table names")
    return names


TIMEOUT_NAMES = ("connect", "statement", "idle", "lock")


def timeout_option(value: str) -> tuple[str, str]:
    """``--timeout NAME=DURATION``; the duration is read with the spec's rules (``timeouts:``)."""
    name, separator, duration = value.partition("=")
    if not separator or name.strip() not in TIMEOUT_NAMES or not duration.strip():
        raise argparse.ArgumentTypeError(
            f"expected NAME=DURATION with NAME one of {', '.join(TIMEOUT_NAMES)} (e.g. idle=30s), got {value!r}"
        )
    return name.strip(), duration.strip()


def current_user() -> str:
    """The login name recorded as who launched or approved something."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pm-pipeline", description="Post-migration reconciliation and support.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = commands.add_parser("check", help="reconcile source and target; exit 1 when they differ")
    where = check.add_mutually_exclusive_group(required=True)
    where.add_argument("--spec", type=Path, help="migration spec (YAML)")
    where.add_argument("--source", help="source connection URL (with --target: no spec needed)")
    check.add_argument("--target", help="target connection URL")
    check.add_argument("--tables", type=table_list, help="only these source tables (comma-separated)")
    check.add_argument("--json", type=Path, help="write the findings JSON here")
    check.add_argument("--html", type=Path, help="write the technical HTML report here")
    check.add_argument(
        "--reports",
        type=Path,
        help="report sets go here, one folder per run and 'latest' pointing at the newest "
        "(default: the spec's reports.directory, else ./pm-reports, unless --json/--html name the only files wanted)",
    )
    check.add_argument("--no-reports", action="store_true", help="write no report set")
    check.add_argument(
        "--format",
        choices=("table", "json", "quiet"),
        default="table",
        help="console output: the summary and the findings grouped (table), one JSON document, "
        "or the verdict and the reports' folder only (quiet)",
    )
    check.add_argument("--no-progress", action="store_true", help="no progress display")
    check.add_argument(
        "--no-integrity",
        action="store_true",
        help="reconcile and compare schemas only (no integrity checks, checksum manifest or GX suites)",
    )
    check.add_argument(
        "--timeout",
        type=timeout_option,
        action="append",
        default=[],
        metavar="NAME=DURATION",
        help="override a connection timeout of both sides: connect, statement, idle or lock "
        "(e.g. --timeout idle=30s --timeout statement=10m; 0 for no limit)",
    )
    check.add_argument(
        "--strategy",
        choices=CHECK_STRATEGIES,
        default="auto",
        help="how tables are compared (default: each table's spec setting, else chosen by size and engines)",
    )
    check.add_argument(
        "--runs-per-source",
        type=int,
        default=None,
        help="at most this many checks at once against the source database, across processes "
        "(default: PM_RUNS_PER_SOURCE, else no limit); the others wait",
    )
    check.add_argument(
        "--slot-wait",
        type=float,
        default=600.0,
        help="seconds to wait for a free slot before giving up (exit 3)",
    )

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
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, parser_class=_Parser)
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

    from pm_pipeline.cli_rollback import add_rollback_parser

    add_rollback_parser(commands)

    from pm_pipeline.cli_workspace import add_workspace_parser

    add_workspace_parser(commands)

    from pm_pipeline.cli_perf import add_perf_parser

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
    _SECRETS.clear()
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
    code = main()
    gc.freeze()  # objects alive now are no longer tracked: the final collection skips them
    sys.exit(code)


def _check(args: argparse.Namespace) -> int:
    from pm_pipeline.clitools import run_cli_check

    if args.source and not args.target:
        raise BadInputError("pm-pipeline check: --source needs --target")
    if args.target and not args.source:
        raise BadInputError("pm-pipeline check: --target needs --source (or use --spec)")
    if args.no_reports and args.reports:
        raise BadInputError("pm-pipeline check: --no-reports and --reports contradict each other")
    audit_log = _check_audit_log(args.spec)
    from pm_pipeline.cli_audit import audited_failure
    from pm_pipeline.cli_workspace import source_limit

    with audited_failure(audit_log, args=args), source_limit(args):
        run = run_cli_check(
            spec_path=args.spec,
            source_url=args.source,
            target_url=args.target,
            tables=args.tables,
            json_path=args.json,
            html_path=args.html,
            reports_dir=args.reports,
            show_progress=not args.no_progress and sys.stderr.isatty(),
            strategy=args.strategy,
            integrity=not args.no_integrity,
            write_reports_set=not args.no_reports,
            output_format=args.format,
            timeouts=dict(args.timeout),
        )
    if audit_log is not None:
        from pm_pipeline.cli_audit import record_cli_check

        record_cli_check(audit_log, args=args, verdict=str(run.state), report_sets=run.report_sets)
    return exit_code(run.state)


def _check_audit_log(spec_path: Path | None) -> AuditLog | None:
    """The log a check run is recorded in (the spec's ``audit.log``), resolved before the run so a
    missing key fails fast."""
    if spec_path is None:
        return None
    from pm_pipeline.cli_audit import check_audit_log
    from pm_pipeline.core.config import load_spec

    return check_audit_log(load_spec(spec_path), spec_path=spec_path)


def exit_code(state: VerdictState) -> int:
    """The exit code of a check's verdict. An incomplete run proves nothing either way, like a
    system failure: exit 3, never 0. A run that also found differences exits 1 (its verdict is fail)."""
    from pm_pipeline.core.verdict import VerdictState

    return {
        VerdictState.PASS: EXIT_OK,
        VerdictState.PASS_WITH_WARNINGS: EXIT_OK,
        VerdictState.FAIL: EXIT_DIFFERENCES,
        VerdictState.INCOMPLETE: EXIT_SYSTEM,
    }[state]


def _validate(args: argparse.Namespace) -> int:
    from pm_pipeline.core.config import load_spec

    spec = load_spec(args.spec)
    print(
        f"{args.spec}: valid ({len(spec.tables)} table mapping(s), source {mask_url(spec.source.url)}, "
        f"target {mask_url(spec.target.url)})"
    )
    return EXIT_OK


def _verify_manifest(args: argparse.Namespace) -> int:
    from pm_pipeline.clitools import run_verify_manifest, run_verify_report_set
    from pm_pipeline.core.report.report_set import is_report_set_manifest

    if args.manifest.is_dir() or is_report_set_manifest(args.manifest):
        return EXIT_OK if run_verify_report_set(args.manifest) else EXIT_DIFFERENCES

    return EXIT_OK if run_verify_manifest(manifest=args.manifest, spec_path=args.spec) else EXIT_DIFFERENCES


def _audit(args: argparse.Namespace) -> int:
    from pm_pipeline.cli_audit import run_audit_verify

    return run_audit_verify(args)


def _workspace(args: argparse.Namespace) -> int:
    from pm_pipeline.cli_workspace import run_workspace

    return run_workspace(args)


def _rollback(args: argparse.Namespace) -> int:
    from pm_pipeline.cli_rollback import run_rollback

    return run_rollback(args)


def _perf(args: argparse.Namespace) -> int:
    from pm_pipeline.cli_perf import run_perf

    return run_perf(args)


def _demo(args: argparse.Namespace) -> int:
    from pm_pipeline.demo.run import run_demo

    directory = args.dir or Path(os.environ.get("PM_DEMO_DIR", "demo_output"))
    return int(run_demo(directory=directory.resolve()))


_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "check": _check,
    "validate-spec": _validate,
    "verify-manifest": _verify_manifest,
    "audit": _audit,
    "rollback": _rollback,
    "workspace": _workspace,
    "perf": _perf,
    "demo": _demo,
}

if __name__ == "__main__":
    entry()
