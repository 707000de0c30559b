"""One table's expectations run between two databases, as the integrity check runs them, and the
statements a connector executes recorded along the way."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.findings import ColumnFacts
from pm_pipeline.core.integrity import parse_integrity
from pm_pipeline.core.integrity.expectations import ExpectationRun, Runner, run_expectations


@contextmanager
def recording(connector: Connector, into: list[str]) -> Iterator[Connector]:
    """Append the SQL of every statement ``connector`` executes to ``into`` while the block runs;
    the connector's own ``execute`` is back afterwards."""
    shadowed = vars(connector).get("execute")  # an instance attribute (another recording) or None
    execute = connector.execute

    def record(sql: str, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        into.append(sql)
        return execute(sql, *args, **kwargs)

    connector.execute = record  # type: ignore[method-assign]
    try:
        yield connector
    finally:
        if shadowed is None:
            delattr(connector, "execute")
        else:
            connector.execute = shadowed  # type: ignore[method-assign]


def run_table_expectations(
    source_url: str,
    target_url: str,
    *,
    table: str = "items",
    mapping: TableMapping | None = None,
    declared: Mapping[str, Any] | None = None,
    data_docs_dir: str | None = None,
    runner: Runner | None = None,
    source_zone: str | None = None,
    target_zone: str | None = None,
    facts: ColumnFacts | None = None,
    before_run: Callable[[], object] | None = None,
    source_statements: list[str] | None = None,
    target_statements: list[str] | None = None,
) -> ExpectationRun:
    """The expectations of ``table`` (or ``mapping``'s table): the generated ones, and ``declared``
    (the spec's ``integrity.expectations``) when given. ``data_docs_dir``, ``runner``, the zones and
    ``facts`` are passed to :func:`run_expectations` as they are. ``before_run`` is called once
    both schemas are read and before the expectations run (a table changed behind them);
    ``source_statements`` / ``target_statements`` receive the SQL the expectations execute on
    each side (introspection excluded; one list may serve both)."""
    mapping = mapping or TableMapping(source=table)
    settings = parse_integrity({"expectations": declared} if declared is not None else {})
    with connect(source_url) as source, connect(target_url) as target:
        source_schema = source.introspect(mapping.source)
        target_schema = target.introspect(mapping.target_name)
        if before_run is not None:
            before_run()
        with ExitStack() as recorded:
            if source_statements is not None:
                recorded.enter_context(recording(source, source_statements))
            if target_statements is not None:
                recorded.enter_context(recording(target, target_statements))
            return run_expectations(
                source=source,
                target=target,
                mapping=mapping,
                settings=settings,
                source_schema=source_schema,
                target_schema=target_schema,
                data_docs_dir=data_docs_dir,
                runner=runner,
                source_zone=source_zone,
                target_zone=target_zone,
                facts=facts,
            )
