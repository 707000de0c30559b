"""Index advice for a table the target scans where the source used an index, proven before it is
given: on a PostgreSQL target with HypoPG, the planner must pick the hypothetical index and the
plan's cost must drop. Elsewhere the advice is "unverified". No index is ever created here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.connectors.schema import Index, TableSchema
from pm_pipeline.core.errors import SystemFailure
from pm_pipeline.core.perf.engines import explain
from pm_pipeline.core.perf.params import Bound
from pm_pipeline.core.perf.plans import INDEX, TableAccess

PROVEN, NOT_PICKED, UNVERIFIED = "proven", "not_picked", "unverified"
NOT_APPLICABLE = "not_applicable"  # a partial or expression index: reproduced by hand only


@dataclass(frozen=True)
class IndexAdvice:
    """``CREATE INDEX CONCURRENTLY`` for ``columns`` of ``table`` on the target, and its proof."""

    table: str
    columns: tuple[str, ...]
    unique: bool
    statement: str
    reason: str  # where the columns come from: the source's index, or the plan's conditions
    proof: str = UNVERIFIED  # PROVEN, NOT_PICKED, UNVERIFIED or NOT_APPLICABLE
    cost_before: float | None = None
    cost_after: float | None = None
    proof_note: str = ""
    # False: the source's index is partial or on expressions; ``statement`` is its definition, to
    # reproduce by hand. Never proven, never in an index plan: rebuilt from its columns alone, a
    # unique one would refuse rows the source accepts.
    applicable: bool = True

    @property
    def factor(self) -> float | None:
        if self.cost_before is None or not self.cost_after:
            return None
        return self.cost_before / self.cost_after


def advise(
    *,
    target: Connector,
    target_table: str,
    source_access: TableAccess,
    target_access: TableAccess,
    source_schema: TableSchema | None,
    target_schema: TableSchema | None,
) -> IndexAdvice | None:
    """The index the target lacks: the columns of the index the source used (its declared index or
    unique constraint), else the columns the target's plan filters, joins or sorts on."""
    columns: tuple[str, ...] = ()
    unique = False
    reason = ""
    if source_schema is not None and source_access.index:
        for index in source_schema.indexes:
            if index.name.lower() == source_access.index.lower():
                if index.definition or not all(index.columns):  # MySQL: a functional key part has no name
                    return _by_hand(index, target_table=target_table)
                columns, unique, reason = index.columns, index.unique, f"the source's index {index.name}"
        for constraint in source_schema.unique_constraints:
            if not columns and (constraint.name or "").lower() == source_access.index.lower():
                columns, unique = constraint.columns, True
                reason = f"the source's unique constraint {constraint.name}"
        if not columns and source_access.index.upper() == "PRIMARY" and source_schema.primary_key:
            columns, unique, reason = tuple(source_schema.primary_key), True, "the source's primary key"
    if not columns:
        columns = target_access.columns or source_access.columns
        reason = "the columns the query filters, joins or sorts on"
    if not columns:
        return None
    if target_schema is not None:
        known = {c.name.lower(): c.name for c in target_schema.columns}
        if any(c.lower() not in known for c in columns):
            return None
        columns = tuple(known[c.lower()] for c in columns)
    quoted = ", ".join(target.quote(c) for c in columns)
    kind = "UNIQUE INDEX" if unique else "INDEX"
    statement = f"CREATE {kind} CONCURRENTLY ON {target.qualified(target_table)} ({quoted})"
    return IndexAdvice(table=target_table, columns=columns, unique=unique, statement=statement, reason=reason)


def _by_hand(index: Index, *, target_table: str) -> IndexAdvice:
    what = "a unique index" if index.unique else "an index"
    return IndexAdvice(
        table=target_table,
        columns=tuple(c for c in index.columns if c),
        unique=index.unique,
        statement=index.definition
        or f"{index.name} ({', '.join(c or '<expression>' for c in index.columns)})",
        reason=f"the source's index {index.name}, {what} with a predicate or expressions",
        applicable=False,
        proof=NOT_APPLICABLE,
        proof_note="create its equivalent on the target by hand (--apply never does)",
    )


def hypopg_schema(target: Connector) -> str | None:
    """The schema holding the hypopg extension on the target, or None when it is not installed."""
    if not target.dialect.takes_hypothetical_indexes:
        return None
    rows = target.execute(target.dialect.hypothetical_index_schema_query())
    return str(rows[0][0]) if rows else None


def hypopg_available(target: Connector) -> bool:
    return target.dialect.takes_hypothetical_indexes and bool(
        target.execute(target.dialect.hypothetical_index_available_query())
    )


# Held shared by every run that uses hypopg on a target, exclusively by the one dropping it.
_HYPOPG_LOCK = 0x706D_6879  # an advisory lock key: "pmhy"


@contextlib.contextmanager
def hypopg(target: Connector, *, allowed: bool) -> Iterator[str | None]:
    """The schema of a usable hypopg extension, or None. When ``allowed`` and not yet installed, it
    is created for the block and dropped afterwards, leaving the target as it was, unless another
    run is using it then: each run holds a shared advisory lock while it may use the extension, and
    the run that created it drops it only if it can take that lock exclusively (else the extension
    stays installed, as another run found it)."""
    if not target.dialect.takes_hypothetical_indexes:
        yield None
        return
    dialect = target.dialect
    # Taken before looking: a run that finds the extension keeps it from being dropped under it.
    target.execute(dialect.advisory_lock(shared=True), (_HYPOPG_LOCK,))
    shared = True
    try:
        schema = hypopg_schema(target)
        if schema is not None or not allowed or not hypopg_available(target):
            yield schema
            return
        try:
            with target.transaction() as writer:
                writer.execute(dialect.install_hypothetical_indexes())
        except SystemFailure:
            # Not allowed to create it (not a superuser, a read-only replica): the advice stays unverified.
            yield None
            return
        try:
            yield hypopg_schema(target)
        finally:
            target.execute(dialect.advisory_unlock(shared=True), (_HYPOPG_LOCK,))
            shared = False
            if target.execute(dialect.try_advisory_lock(), (_HYPOPG_LOCK,))[0][0]:
                try:
                    with target.transaction() as writer:
                        writer.execute(dialect.uninstall_hypothetical_indexes())
                finally:
                    target.execute(dialect.advisory_unlock(shared=False), (_HYPOPG_LOCK,))
    finally:
        if shared:
            # A lost session has released it already; its own error is the one to report.
            with contextlib.suppress(Exception):
                target.execute(dialect.advisory_unlock(shared=True), (_HYPOPG_LOCK,))


def prove(advice: IndexAdvice, *, target: Connector, bound: Bound, schema: str | None) -> IndexAdvice:
    """The advice with its proof: the hypothetical index is created in this session only, the plan
    explained again, and every hypothetical index removed (hypopg_reset) whatever happens."""
    from dataclasses import replace

    if not advice.applicable:
        return advice
    if schema is None:
        note = (
            "HypoPG is not available on the target (install it, or set allow_hypopg)"
            if target.dialect.takes_hypothetical_indexes
            else (f"{target.engine} has no hypothetical indexes")
        )
        return replace(advice, proof=UNVERIFIED, proof_note=note)
    before = explain(target, bound)
    definition = advice.statement.replace(" CONCURRENTLY", "").replace("CREATE UNIQUE INDEX", "CREATE INDEX")
    try:
        rows = target.execute(target.dialect.create_hypothetical_index(schema), (definition,))
        hypothetical = str(rows[0][0])
        after = explain(target, bound)
    finally:
        target.execute(target.dialect.reset_hypothetical_indexes(schema))
    access = None if after is None else after.access(advice.table)
    picked = access is not None and access.path == INDEX and access.index == hypothetical
    cost_before = None if before is None else before.cost
    cost_after = None if after is None else after.cost
    dropped = cost_before is not None and cost_after is not None and cost_after < cost_before
    return replace(
        advice,
        proof=PROVEN if picked and dropped else NOT_PICKED,
        cost_before=cost_before,
        cost_after=cost_after,
        proof_note="the planner picks the hypothetical index"
        if picked
        else "the planner does not pick the hypothetical index",
    )


def covered(schema: TableSchema | None, columns: Sequence[str]) -> str | None:
    """The name of a target index whose leading columns are ``columns``, if one exists. A partial
    or expression index does not count: it serves only the queries its predicate or expressions
    match."""
    if schema is None:
        return None
    wanted = [c.lower() for c in columns]
    for index in schema.indexes:
        if index.definition is None and [c.lower() for c in index.columns[: len(wanted)]] == wanted:
            return index.name
    for constraint in schema.unique_constraints:
        if [c.lower() for c in constraint.columns[: len(wanted)]] == wanted:
            return constraint.name or "a unique constraint"
    if schema.primary_key and [c.lower() for c in schema.primary_key[: len(wanted)]] == wanted:
        return "the primary key"
    return None
