"""One exception hierarchy for pm-pipeline; the CLI maps it to exit codes in one place."""

from __future__ import annotations


class PmError(Exception):
    """Base of every error pm-pipeline raises on purpose."""

    exit_code: int = 3


class BadInputError(PmError):
    """The user gave something wrong: a spec, a URL, a table name, a value. Exit code 2."""

    exit_code = 2


class SpecError(BadInputError):
    """A migration spec is invalid. The message names the file, the key path and what was expected."""

    def __init__(self, *, file: str, path: str, problem: str) -> None:
        self.file = file
        self.path = path
        self.problem = problem
        where = f"{file}: {path}" if path else file
        super().__init__(f"{where}: {problem}")


class UnknownSchemeError(BadInputError):
    """A connection URL names an engine pm-pipeline does not support."""


class TableNotFoundError(BadInputError):
    """A table named by the user does not exist on the side it was looked for."""


class SystemFailure(PmError):
    """A system failed: database unreachable, authentication refused, permission denied. Exit code 3."""

    exit_code = 3


class ConnectionFailure(SystemFailure):
    """Could not connect to, or talk to, a database."""


class IntegrityRefusal(BadInputError):
    """An operation was refused because running it could lose data (e.g. an unapproved rollback)."""
