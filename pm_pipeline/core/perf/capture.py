"""The source's own top statements as workload queries: PostgreSQL's pg_stat_statements or
MariaDB/MySQL's performance_schema statement digests, ranked by total time.

Both keep statements normalised (``$1`` on PostgreSQL, ``?`` in a digest). Each placeholder compared
with a column of the statement's table gets its values from real rows of that table; a statement
whose placeholders cannot all be drawn so (``LIMIT $1``, a function's argument, a digest that cut
its text short) is skipped with the reason, never run with made-up values.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pm_pipeline.core.config.performance import PerformanceSettings, Sample, WorkloadQuery
from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.connectors.base import query_table
from pm_pipeline.core.dialects import ENGINES, dialect_for
from pm_pipeline.core.dialects.base import StatementStatistics
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.perf.params import bind, draw
from pm_pipeline.core.perf.refusals import refusal

SAMPLE_SIZE = 5
# Every engine that keeps statement statistics; a statement is recognised by any engine's catalogs,
# functions and placeholders, whichever engine the source is.
_KEPT: tuple[StatementStatistics, ...] = tuple(
    kept for kept in (dialect_for(engine).statement_statistics for engine in ENGINES) if kept is not None
)


def _alternatives(patterns: Sequence[str]) -> str:
    return "|".join(dict.fromkeys(patterns))


# pm-pipeline's own statements (introspection, counters, proofs) and the catalogs are not the
# application's workload.
_OWN = re.compile(
    _alternatives([*(catalog for kept in _KEPT for catalog in kept.catalogs), "pm_sample"]), re.IGNORECASE
)
# A SELECT that locks rows, creates a table or moves a sequence: the workload runs read-only, and the
# source refuses these there.
_WRITES = re.compile(
    r"\bFOR\s+(?:NO\s+KEY\s+)?UPDATE\b|\bFOR\s+(?:KEY\s+)?SHARE\b|\bLOCK\s+IN\s+SHARE\s+MODE\b|\bINTO\b"
    rf"|\b(?:{_alternatives([function for kept in _KEPT for function in kept.writing_functions])})\s*\(",
    re.IGNORECASE,
)
_IDENT = r"(?:`[^`]+`|\"[^\"]+\"|[A-Za-z_][\w$]*)"
_COLUMN = rf"(?:{_IDENT}\s*\.\s*)?({_IDENT})"
_OPERATOR = r"(?:=|<>|!=|<=|>=|<|>|\bLIKE\b|\bILIKE\b)"
_PLACEHOLDER = f"({_alternatives([kept.placeholder for kept in _KEPT])})"
_COMPARED = re.compile(rf"{_COLUMN}\s*{_OPERATOR}\s*{_PLACEHOLDER}", re.IGNORECASE)
_COMPARED_REVERSED = re.compile(rf"{_PLACEHOLDER}\s*{_OPERATOR}\s*{_COLUMN}", re.IGNORECASE)
_BACKTICKED = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Captured:
    """The workload queries taken from the source's statistics, and the statements left out."""

    queries: tuple[WorkloadQuery, ...]
    skipped: tuple[tuple[str, str], ...]  # (name, reason)


@dataclass(frozen=True)
class _Statement:
    name: str
    text: str


def _quotes_with_backticks(connector: Connector) -> bool:
    return connector.quote("x") == "`x`"


def _unquoted(identifier: str) -> str:
    return identifier[1:-1] if identifier[:1] in '`"' else identifier


def _top(source: Connector, kept: StatementStatistics, top: int) -> list[_Statement]:
    enabled = source.execute(kept.enabled_query)
    if not enabled or not int(enabled[0][0] or 0):
        raise BadInputError(
            f"performance.capture: the source {kept.disabled}; or list the queries under 'workload'"
        )
    try:
        # Room for pm-pipeline's own statements, filtered below.
        rows = source.execute(kept.top_query, (top * 4,))
    except Exception as exc:
        if not kept.unreadable_is_bad_input:
            raise
        raise BadInputError(
            f"performance.capture: the source cannot read {kept.kept_in}: {refusal(exc, source)}"
        ) from None
    if kept.names_by_text:
        # Named by its text, not its id, so that a workload query keeps its name, and history, across runs.
        return [_Statement(f"{kept.name_prefix}{_text_hash(str(text))}", str(text)) for _, text in rows]
    return [_Statement(f"{kept.name_prefix}{str(key)[:16]}", str(text)) for key, text in rows]


def _text_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:12]


def _named(text: str, *, placeholder: re.Pattern[str]) -> tuple[str, dict[str, str]] | str:
    """The statement with ``:pN`` parameters and the column each is drawn from, or why it cannot be."""
    if "..." in text:
        return "the digest shortened the statement ('...')"
    columns: dict[str, str] = {}
    ordinal = 0

    def number(token: str) -> str:
        nonlocal ordinal
        if token == "?":
            ordinal += 1
            return f"p{ordinal}"
        return f"p{token[1:]}"

    # Question marks are numbered in order of appearance, so the two patterns must agree on them.
    spans: list[tuple[int, str, str]] = []
    for match in _COMPARED.finditer(text):
        spans.append((match.start(2), match.group(2), _unquoted(match.group(1))))
    for match in _COMPARED_REVERSED.finditer(text):
        spans.append((match.start(1), match.group(1), _unquoted(match.group(2))))
    by_position = {start: (token, column) for start, token, column in spans}
    pieces: list[str] = []
    position = 0
    for found in placeholder.finditer(text):
        name = number(found.group(0))
        if found.start() not in by_position:
            return f"no column to draw parameter {found.group(0)} from"
        columns.setdefault(name, by_position[found.start()][1])
        pieces += [text[position : found.start()], f":{name}"]
        position = found.end()
    pieces.append(text[position:])
    return "".join(pieces), columns


def _sample(named: str, columns: dict[str, str], source: Connector) -> Sample | str:
    table = query_table(named)
    if table is None:
        return "no table to draw parameters from"
    picked = ", ".join(f"{source.quote(column)} AS {name}" for name, column in sorted(columns.items()))
    present = " AND ".join(f"{source.quote(column)} IS NOT NULL" for column in sorted(set(columns.values())))
    return Sample(sql=f"SELECT {picked} FROM {table} WHERE {present}", size=SAMPLE_SIZE)


def capture(
    settings: PerformanceSettings, *, source: Connector, target: Connector, withhold: bool = False
) -> Captured:
    """The source's top ``capture.top`` SELECT statements by total time, as workload queries whose
    parameters are drawn from real rows; BadInputError when the source keeps no such statistics."""
    if settings.capture is None:
        return Captured((), ())
    top = settings.capture.top
    statistics = source.dialect.statement_statistics
    if statistics is None:
        kept_by = ", ".join(f"{kept.product} {kept.kept_in}" for kept in _KEPT)
        raise BadInputError(
            f"performance.capture: a {source.engine} source keeps no statement statistics "
            f"({kept_by}); list the queries under 'workload'"
        )
    statements = _top(source, statistics, top)
    placeholder = re.compile(statistics.placeholder)
    listed = {query.name for query in settings.workload}
    queries: list[WorkloadQuery] = []
    skipped: list[tuple[str, str]] = []
    for statement in statements:
        if len(queries) >= top:
            break
        # A statement that reads no table (SELECT version(), SELECT now()) has nothing a migration
        # could slow down; the drivers' own are among them.
        if _OWN.search(statement.text) or statement.name in listed or query_table(statement.text) is None:
            continue
        listed.add(statement.name)  # the same statement under another queryid or user
        reason = _prepared(
            statement, source=source, target=target, into=queries, placeholder=placeholder, withhold=withhold
        )
        if reason:
            skipped.append((statement.name, reason))
    return Captured(tuple(queries), tuple(skipped))


def _prepared(
    statement: _Statement,
    *,
    source: Connector,
    target: Connector,
    into: list[WorkloadQuery],
    placeholder: re.Pattern[str],
    withhold: bool = False,
) -> str:
    """Adds the statement to ``into`` as a workload query; the reason it cannot be, else ''."""
    writes = _WRITES.search(statement.text)
    if writes:
        return f"it locks or writes ({' '.join(writes.group(0).split())}): the workload runs read-only"
    named = _named(statement.text, placeholder=placeholder)
    if isinstance(named, str):
        return named
    sql, columns = named
    sample: Sample | None = None
    values: Sequence[dict[str, object]] = ({},)
    if columns:
        drawn = _sample(sql, columns, source)
        if isinstance(drawn, str):
            return drawn
        sample = drawn
        try:
            values = [
                dict(v) for v in draw(sample, connector=source, name=statement.name, needed=set(columns))
            ]
        except BadInputError as exc:  # the table holds no row with every column set
            return f"no parameter could be drawn from real rows: {exc}"
        except Exception as exc:
            return f"no parameter could be drawn from real rows: {refusal(exc, source, withhold=withhold)}"
    # A statement the source itself no longer runs (a dropped table, another schema on the search
    # path, a temporary table) is left out rather than ending the whole workload as bad input.
    bound = bind(sql, values[0], placeholder=source.placeholder)
    try:
        source.execute(f"EXPLAIN {bound.sql}", bound.params)
    except Exception as exc:
        return f"the source does not run it as captured: {refusal(exc, source, withhold=withhold)}"
    target_sql = sql
    if _quotes_with_backticks(source) and not _quotes_with_backticks(target):
        # A digest quotes every identifier with backticks, which the target does not read.
        target_sql = _BACKTICKED.sub(lambda m: target.quote(m.group(1)), sql)
    if target.engine != source.engine:
        # Captured in the source's dialect: a statement the target cannot parse is skipped, not
        # reported as a query the target refuses.
        bound = bind(target_sql, values[0], placeholder=target.placeholder)
        try:
            target.execute(f"EXPLAIN {bound.sql}", bound.params)
        except Exception as exc:
            return f"the target cannot run it as captured (another dialect): {refusal(exc, target, withhold=withhold)}"
    if target_sql == sql:
        into.append(WorkloadQuery(name=statement.name, sql=sql, sample=sample))
    else:
        into.append(WorkloadQuery(name=statement.name, source_sql=sql, target_sql=target_sql, sample=sample))
    return ""
