"""A workload query an engine refuses: on the source it is the workload's mistake, on the target
a finding (the application's query no longer runs there)."""

from __future__ import annotations

from pm_pipeline.core.check_errors import databases_answer, is_check_error, reason
from pm_pipeline.core.config.performance import WorkloadQuery
from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.connectors.base import is_interruption
from pm_pipeline.core.errors import TableNotFoundError
from pm_pipeline.core.findings import Category, Finding, Severity


def refusal(exc: BaseException, connector: Connector) -> str:
    """The database's reason when ``connector`` refused a statement and still answers; any other
    exception (a lost server, a bug, an interruption) is raised again."""
    if is_interruption(exc) or not isinstance(exc, Exception):
        raise exc
    refused = isinstance(exc, TableNotFoundError) or is_check_error(exc)
    if not refused or not databases_answer([connector]):
        raise exc
    return reason(exc, secrets=[connector.url.password])


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
