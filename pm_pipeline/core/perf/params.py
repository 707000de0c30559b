"""Named parameters (``:email``) bound to each engine's placeholders, and parameter values drawn
from real rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pm_pipeline.core.config.performance import Sample, WorkloadQuery, parameter_matches
from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.errors import BadInputError


@dataclass(frozen=True)
class Bound:
    """A statement in the engine's placeholder style and its positional values."""

    sql: str
    params: tuple[Any, ...]


def bind(sql: str, values: Mapping[str, Any], *, placeholder: str) -> Bound:
    """``sql`` with every ``:name`` replaced by ``placeholder`` and the values in that order.

    With ``%s`` placeholders the drivers read ``%`` as a format character, so a literal ``%``
    (``LIKE 'a%'``) is doubled when there are parameters."""
    matches = parameter_matches(sql)
    if not matches:
        return Bound(sql, ())
    pieces: list[str] = []
    params: list[Any] = []
    position = 0
    for match in matches:
        name = match.group(1)
        if name not in values:
            raise BadInputError(f"parameter :{name} has no value")
        text = sql[position : match.start()]
        pieces.append(text.replace("%", "%%") if placeholder == "%s" else text)
        pieces.append(placeholder)
        params.append(values[name])
        position = match.end()
    tail = sql[position:]
    pieces.append(tail.replace("%", "%%") if placeholder == "%s" else tail)
    return Bound("".join(pieces), tuple(params))


def parameter_sets(
    query: WorkloadQuery, *, source: Connector, target: Connector
) -> tuple[Mapping[str, Any], ...]:
    """The parameter values the query runs with: its ``params``, or the rows its sample draws."""
    if query.sample is None:
        return (dict(query.params),)
    connector = source if query.sample.side == "source" else target
    return draw(query.sample, connector=connector, name=query.name, needed=_needed(query))


def _needed(query: WorkloadQuery) -> set[str]:
    return {match.group(1) for sql in (query.source, query.target) for match in parameter_matches(sql)}


def draw(
    sample: Sample, *, connector: Connector, name: str, needed: set[str]
) -> tuple[Mapping[str, Any], ...]:
    """The first ``size`` rows of the sample query (read-only, bounded by LIMIT), as name -> value."""
    sql = f"SELECT * FROM ({sample.sql}) pm_sample LIMIT {int(sample.size)}"
    cursor_rows, columns = _rows_with_names(connector, sql)
    missing = sorted(needed - set(columns))
    if missing:
        raise BadInputError(
            f"performance.workload {name}: the sample query returns columns {', '.join(columns) or 'none'}, "
            f"not the parameter(s) {', '.join(':' + n for n in missing)}"
        )
    if not cursor_rows:
        raise BadInputError(
            f"performance.workload {name}: the sample query returned no row on the {sample.side}"
        )
    return tuple(dict(zip(columns, row, strict=True)) for row in cursor_rows)


def _rows_with_names(connector: Connector, sql: str) -> tuple[Sequence[tuple[Any, ...]], list[str]]:
    # The column names come with an Arrow read; values are read back as Python objects.
    table = connector.query_arrow(sql)
    columns = list(table.column_names)
    rows = [tuple(row[name] for name in columns) for row in table.to_pylist()]
    return rows, columns
