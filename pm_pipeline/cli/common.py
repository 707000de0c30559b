"""What every pm-pipeline command shares: exit codes, the parser class, option types, password masking."""

from __future__ import annotations

import argparse
import getpass
import re
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.security.masking import mask_url

if TYPE_CHECKING:
    from pm_pipeline.core.verdict import VerdictState

# Start-up: `--help`, usage errors and `validate-spec` must answer in a fraction of a second, so
# the command modules import nothing heavy (pyarrow, pandas, DuckDB, the reconciliation engine, the
# spec's pydantic models) at import time; each command imports what it needs when it runs.
# pm_pipeline_tests/test_cli_startup.py holds them to that.

EXIT_OK, EXIT_DIFFERENCES, EXIT_BAD_INPUT, EXIT_SYSTEM = 0, 1, 2, 3

__all__ = [
    "CHECK_STRATEGIES",
    "EXIT_BAD_INPUT",
    "EXIT_DIFFERENCES",
    "EXIT_OK",
    "EXIT_SYSTEM",
    "TIMEOUT_NAMES",
    "CommandParser",
    "UsageError",
    "current_user",
    "exit_code",
    "forget_secrets",
    "mask_url",
    "masked",
    "remember_secrets",
    "table_list",
    "timeout_option",
]


class UsageError(BadInputError):
    """The command line itself is wrong: shown with the usage of the (sub-)command concerned."""

    def __init__(self, message: str, *, prog: str, usage: str) -> None:
        super().__init__(message)
        self.prog = prog
        self.usage = usage


class CommandParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see --help)", prog=self.prog, usage=self.format_usage())


# The spec's STRATEGIES, written out so that building the parser loads no pydantic model (argparse
# reads the choices as soon as the option is added); test_cli_startup holds the two equal.
CHECK_STRATEGIES = ("auto", "arrow", "pushdown", "bucket")

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


def forget_secrets() -> None:
    """Start a command with no remembered password (``main`` may run several in one process)."""
    _SECRETS.clear()


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
