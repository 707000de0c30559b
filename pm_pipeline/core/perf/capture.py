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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pm_pipeline.core.config.performance import PerformanceSettings, Sample, WorkloadQuery
from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.connectors.base import query_table
from pm_pipeline.core.dialects import Dialect
from pm_pipeline.core.dialects.mysql import MySqlDialect
from pm_pipeline.core.dialects.postgres import PostgresDialect
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.perf.params import bind, draw
from pm_pipeline.core.perf.refusals import refusal

SAMPLE_SIZE = 5
# pm-pipeline's own statements (introspection, counters, proofs) and the catalogs are not the
# application's workload.
_OWN = re.compile(
    r"\bpg_|information_schema|performance_schema|hypopg|pm_sample|\bmysql\.|\bsys\.", re.IGNORECASE
)
# A SELECT that locks rows, creates a table or moves a sequence: the workload runs read-only, and the
# source refuses these there.
_WRITES = re.compile(
    r"\bFOR\s+(?:NO\s+KEY\s+)?UPDATE\b|\bFOR\s+(?:KEY\s+)?SHARE\b|\bLOCK\s+IN\s+SHARE\s+MODE\b|\bINTO\b"
    r"|\b(?:nextval|setval|pg_advisory\w*|get_lock)\s*\(",
    re.IGNORECASE,
)
_IDENT = r"(?:`[^`]+`|\"[^\"]+\"|[A-Za-z_][\w$]*)"
_COLUMN = rf"(?:{_IDENT}\s*\.\s*)?({_IDENT})"
_OPERATOR = r"(?:=|<>|!=|<=|>=|<|>|\bLIKE\b|\bILIKE\b)"
_PLACEHOLDER = r"(\$\d+|\?)"
_COMPARED = re.compile(rf"{_COLUMN}\s*{_OPERATOR}\s*{_PLACEHOLDER}", re.IGNORECASE)
_COMPARED_REVERSED = re.compile(rf"{_PLACEHOLDER}\s*{_OPERATOR}\s*{_COLUMN}", re.IGNORECASE)
_DOLLAR = re.compile(r"\$\d+")
_QUESTION = re.compile(r"\?")
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


def _top_postgres(source: Connector, top: int) -> list[_Statement]:
    installed = source.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")
    if not installed or not installed[0][0]:
        raise BadInputError(
            "performance.capture: the source database has no pg_stat_statements (CREATE EXTENSION "
            "pg_stat_statements, with shared_preload_libraries = 'pg_stat_statements'); or list the "
            "queries under 'workload'"
        )
    try:
        rows = source.execute(
            "SELECT queryid, query FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND query ~* '^\\s*select\\s' ORDER BY total_exec_time DESC, queryid LIMIT %s",
            (top * 4,),  # room for pm-pipeline's own statements, filtered below
        )
    except Exception as exc:
        raise BadInputError(
            f"performance.capture: the source cannot read pg_stat_statements: {refusal(exc, source)}"
        ) from None
    # Named by the statement's text, not its queryid: the same text gets several queryids (one per
    # parameter type a driver binds), and a workload query keeps its name, and history, across runs.
    return [_Statement(f"pgss_{_text_hash(str(text))}", str(text)) for _, text in rows]


def _text_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:12]


def _top_mysql(source: Connector, top: int) -> list[_Statement]:
    enabled = source.execute("SELECT @@performance_schema")
    if not enabled or not int(enabled[0][0] or 0):
        raise BadInputError(
            "performance.capture: the source runs with performance_schema off (start it with "
            "--performance-schema=ON); or list the queries under 'workload'"
        )
    rows = source.execute(
        "SELECT DIGEST, DIGEST_TEXT FROM performance_schema.events_statements_summary_by_digest "
        "WHERE SCHEMA_NAME = DATABASE() AND DIGEST_TEXT LIKE 'SELECT %%' "
        "ORDER BY SUM_TIMER_WAIT DESC, DIGEST LIMIT %s",
        (top * 4,),
    )
    return [_Statement(f"digest_{str(digest)[:16]}", str(text)) for digest, text in rows]


# Where each engine keeps its top statements, and how they mark a parameter: PostgreSQL numbers
# its placeholders ($1); a digest marks them '?' (on PostgreSQL, '?' is an operator).
_STATISTICS: dict[type[Dialect], tuple[Callable[[Connector, int], list[_Statement]], re.Pattern[str]]] = {
    PostgresDialect: (_top_postgres, _DOLLAR),
    MySqlDialect: (_top_mysql, _QUESTION),
}


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
    statistics = _STATISTICS.get(type(source.dialect))
    if statistics is None:
        raise BadInputError(
            f"performance.capture: a {source.engine} source keeps no statement statistics "
            "(PostgreSQL pg_stat_statements, MariaDB/MySQL performance_schema); list the queries under 'workload'"
        )
    read_top, placeholder = statistics
    statements = read_top(source, top)
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
