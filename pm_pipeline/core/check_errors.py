"""A check that fails half way becomes a ``check_error`` finding instead of ending the run.

Each independent unit of checking (the schema comparison of a table, each integrity sub-check, the
expectation suite, the reconciliation of a table) runs through :func:`guarded`. What counts as a
check error: an error raised by a database or its driver (any exception neither built into Python
nor raised by pm-pipeline on purpose) and a :class:`SystemFailure` while both databases still answer.
What still ends the run: a user mistake (:class:`BadInputError`, exit 2), a database that no longer
answers (the original failure, exit 3), and Python's built-in exceptions, which are bugs and keep
their traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from pm_pipeline.core.connectors.base import Connector, NoAnswerFailure
from pm_pipeline.core.errors import BadInputError, ConnectionFailure, PmError, SystemFailure
from pm_pipeline.core.findings import Category, Finding, Severity, TableReconciliation, not_compared
from pm_pipeline.core.security.masking import mask_url

_T = TypeVar("_T")
_MAX_REASON = 400


@dataclass(frozen=True)
class Unit:
    """What is being checked, for the finding's message: the feature, the unit, the table, the column."""

    check: str  # the feature that runs it: schema, integrity, reconciliation
    what: str  # the unit: "orphans under (customer_id) -> customers(id)", "rule positive_total", ...
    table: str
    column: str | None = None


def is_check_error(exc: BaseException) -> bool:
    """Whether ``exc`` may become a check_error finding (before asking whether the databases answer)."""
    if not isinstance(exc, Exception) or isinstance(exc, BadInputError):
        return False
    if isinstance(exc, SystemFailure):
        return True
    if isinstance(exc, PmError):
        return False
    root = type(exc).__module__.split(".", 1)[0]
    return root not in {"builtins", "pm_pipeline"}


def databases_answer(connectors: Sequence[Connector]) -> bool:
    """Whether every connector still runs a trivial query (a lost server fails here too)."""
    return all(connector.answers() for connector in connectors)


def reason(exc: BaseException, *, secrets: Sequence[str | None] = ()) -> str:
    """The database's message on one line, URLs and passwords masked."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(mask_url(word) if "://" in word else word for word in text.split(" "))
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def check_error_finding(unit: Unit, exc: BaseException, *, secrets: Sequence[str | None] = ()) -> Finding:
    """The finding saying ``unit`` could not run to the end, with the database's message."""
    where = unit.table + (f".{unit.column}" if unit.column else "")
    return Finding(
        table=unit.table,
        category=Category.CHECK_ERROR,
        severity=Severity.ERROR,
        column=unit.column,
        rule=unit.what,
        message=f"{unit.check} check {unit.what} on {where} could not run: {reason(exc, secrets=secrets)}",
        check=unit.check,
    )


def guarded(
    unit: Unit, run: Callable[[], _T], *, connectors: Sequence[Connector]
) -> tuple[_T | None, Finding | None]:
    """``run()``'s result, or None and a check_error finding when a database error stopped it.

    Re-raises what must end the run: bad input, a database that no longer answers, a bug."""
    try:
        return run(), None
    except NoAnswerFailure as exc:  # a stuck server: asking it again would only wait again
        _end(exc, unit)
    except Exception as exc:
        if not is_check_error(exc):
            raise
        gone = [connector for connector in connectors if not connector.answers()]
        if gone:
            if isinstance(exc, SystemFailure):
                _end(exc, unit)
            # A driver's or library's own error (GX's "Attempt to connect to datasource failed")
            # says what failed, not which server: name it.
            secrets = [c.url.password for c in connectors]
            lost = ConnectionFailure(
                f"{', '.join(c.describe() for c in gone)} no longer answers: {reason(exc, secrets=secrets)}"
            )
            raise during(lost, unit) from exc
        secrets = [c.url.password for c in connectors]
        return None, check_error_finding(unit, exc, secrets=secrets)


def _end(exc: SystemFailure, unit: Unit) -> NoReturn:
    """Raise ``exc`` naming the phase it ended, unless an inner unit already named it."""
    named = during(exc, unit)
    if named is exc:
        raise exc
    raise named from exc


def during(exc: SystemFailure, unit: Unit) -> SystemFailure:
    """``exc`` naming the phase it ended (the check, its unit and the table), once: the innermost
    guarded unit names it."""
    if getattr(exc, "phase_named", False):
        return exc
    named = type(exc)(f"{exc}, during the {unit.check} check ({unit.what} on {unit.table})")
    named.phase_named = True  # type: ignore[attr-defined]
    return named


def unreconciled(*, table: str, target_table: str, error: Finding) -> TableReconciliation:
    """A table whose reconciliation stopped on a database error: no rows compared, only the
    check_error finding (its verdict is incomplete, never a pass)."""
    return not_compared(table=table, target_table=target_table, finding=error, strategy="not run")
