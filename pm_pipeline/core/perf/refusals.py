"""A workload query an engine refuses: on the source it is the workload's mistake, on the target
a finding (the application's query no longer runs there).

A database's message may quote a value it could not use (``invalid input syntax for type bigint:
"123-45-0001"``): a parameter drawn from real rows, or a row the query read. When a spec classifies
a column above the clearance of a reader of its reports, the message is withheld and only the
error's code is kept: which column a value came from cannot be told from the message."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pm_pipeline.core.check_errors import databases_answer, is_check_error, reason
from pm_pipeline.core.config.performance import WorkloadQuery
from pm_pipeline.core.config.spec import MigrationSpec
from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.connectors.base import NoAnswerFailure, is_interruption
from pm_pipeline.core.errors import PmError, SystemFailure, TableNotFoundError
from pm_pipeline.core.findings import Category, Finding, Severity

_T = TypeVar("_T")


class WithheldError(SystemFailure):
    """A database error whose message is withheld: it becomes a check_error finding naming its code."""


def values_may_be_hidden(spec: MigrationSpec) -> bool:
    """Whether a column of ``spec`` is classified above the clearance of any reader of its reports."""
    lowest = min(c.rank for c in (spec.reports.clearance, *spec.reports.audiences))
    return any(
        column.classification is not None and column.classification.rank > lowest
        for mapping in spec.tables
        for column in mapping.columns.values()
    )


def withheld(exc: BaseException) -> str:
    """The error's code and class, without the database's message."""
    code = getattr(exc, "sqlstate", None)
    if code is None and exc.args and isinstance(exc.args[0], int):
        code = f"error {exc.args[0]}"  # MySQL/MariaDB: the server's error number
    elif code is not None:
        code = f"SQLSTATE {code}"
    named = f"{code} ({type(exc).__name__})" if code else type(exc).__name__
    return f"{named}; the database's message is withheld: it may quote a value above the reports' clearance"


def refusal(exc: BaseException, connector: Connector, *, withhold: bool = False) -> str:
    """The database's reason when ``connector`` refused a statement and still answers (only its
    code when ``withhold``); any other exception (a lost server, a bug, an interruption) is raised
    again."""
    if is_interruption(exc) or not isinstance(exc, Exception):
        raise exc
    refused = isinstance(exc, TableNotFoundError) or is_check_error(exc)
    if not refused or not databases_answer([connector]):
        raise exc
    if withhold and not isinstance(exc, TableNotFoundError):  # pm-pipeline's own: names a table
        return withheld(exc)
    return reason(exc, secrets=[connector.url.password])


def withholding(run: Callable[[], _T], *, withhold: bool) -> Callable[[], _T]:
    """``run``, its database errors' messages withheld when ``withhold``: what a check_error finding
    (or the failure that ends the run) would otherwise quote."""

    def call() -> _T:
        try:
            return run()
        except NoAnswerFailure:
            raise
        except Exception as exc:
            if not withhold or isinstance(exc, PmError) or not is_check_error(exc):
                raise
            # Not chained: a traceback printed under --debug would quote the original message.
            raise WithheldError(withheld(exc)) from None

    return call


def target_refusal(query: WorkloadQuery, *, table: str, why: str) -> Finding:
    return Finding(
        table=table,
        category=Category.RESULT_MISMATCH,
        severity=Severity.ERROR,
        message=f"query {query.name}: the source runs it, the target cannot: {why}",
        rule="target_refused",
        check="performance",
        query=query.name,
    )
