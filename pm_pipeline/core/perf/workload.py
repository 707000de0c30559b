"""Run a workload on both sides: plans, warm-up, interleaved timed runs, answers compared, server
counters before and after; then judge each query (see :mod:`pm_pipeline.core.perf.judge`)."""

from __future__ import annotations

import dataclasses
import resource
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pm_pipeline.core.check_errors import Unit, guarded
from pm_pipeline.core.config.performance import PerformanceSettings, WorkloadQuery
from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.connectors.base import query_table
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.errors import BadInputError, TableNotFoundError
from pm_pipeline.core.findings import Finding
from pm_pipeline.core.perf import engines
from pm_pipeline.core.perf.advice import hypopg
from pm_pipeline.core.perf.capture import capture
from pm_pipeline.core.perf.judge import Judged, is_regression, judge
from pm_pipeline.core.perf.model import PerfResult, QueryResult
from pm_pipeline.core.perf.params import Bound, bind, parameter_sets
from pm_pipeline.core.perf.plans import Plan
from pm_pipeline.core.perf.refusals import refusal, target_refusal, withholding
from pm_pipeline.core.perf.results import Answer, answer, ordered
from pm_pipeline.core.perf.stats import AUTO_MIN_RUNS, compare, latency, median_is_stable

_STABILITY_EVERY = 5  # runs between two looks at the interval of the median
AUTO_BUDGET_S = 30.0  # seconds of timed runs per query and round under repetitions: auto


@dataclass
class _Side:
    connector: Connector
    bound: list[Bound]
    timings: list[float] = field(default_factory=list)
    answers: dict[int, Answer] = field(default_factory=dict)
    fetched: int = 0

    def once(self, index: int, *, timed: bool) -> None:
        slot = index % len(self.bound)
        started = time.perf_counter()
        rows = engines.run(self.connector, self.bound[slot])
        elapsed = time.perf_counter() - started
        self.fetched += len(rows)
        if timed:
            self.timings.append(elapsed)
        if slot not in self.answers:
            self.answers[slot] = answer(rows)


def _bound(
    query: WorkloadQuery, values: Sequence[Mapping[str, Any]], connector: Connector, sql: str
) -> list[Bound]:
    return [bind(sql, v, placeholder=connector.placeholder) for v in values]


def _timed(settings: PerformanceSettings, source: _Side, target: _Side, *, warmup: int) -> None:
    for index in range(warmup):
        source.once(index, timed=False)
        target.once(index, timed=False)
    fixed = settings.repetitions if isinstance(settings.repetitions, int) else None
    cap = fixed or settings.max_repetitions
    started = time.perf_counter()
    for index in range(cap):
        # Interleaved, so a burst of load on the shared machine hits both sides alike.
        first, second = (source, target) if index % 2 == 0 else (target, source)
        first.once(index, timed=True)
        second.once(index, timed=True)
        runs = index + 1
        if fixed is None and runs % _STABILITY_EVERY == 0:
            stable = all(median_is_stable(side.timings) for side in (source, target))
            # A slow query stops auto at its time budget, once enough runs are in to test.
            spent = time.perf_counter() - started > AUTO_BUDGET_S and runs >= AUTO_MIN_RUNS
            if stable or spent:
                return


def _schema(
    connector: Connector, table: str, cache: dict[tuple[str, str], TableSchema | None]
) -> TableSchema | None:
    key = (connector.url.raw, table.lower())
    if key not in cache:
        try:
            cache[key] = connector.introspect(table)
        except TableNotFoundError:
            cache[key] = None
    return cache[key]


def run_query(
    query: WorkloadQuery,
    *,
    settings: PerformanceSettings,
    source: Connector,
    target: Connector,
    target_names: Mapping[str, str],
    hypopg_schema: str | None,
    schemas: dict[tuple[str, str], TableSchema | None],
    withhold: bool = False,
) -> QueryResult:
    """Time, explain and judge one query (the same parameter values on both sides).

    A query the source refuses is the workload's mistake (bad input); one only the target refuses
    is a ``result_mismatch``: the application's query no longer runs there. ``withhold``: the
    database's messages are reduced to their codes (see :mod:`pm_pipeline.core.perf.refusals`)."""
    try:
        values = parameter_sets(query, source=source, target=target)
    except Exception as exc:
        side = "source" if query.sample is None or query.sample.side == "source" else "target"
        why = refusal(exc, source if side == "source" else target, withhold=withhold)
        raise BadInputError(
            f"performance.workload {query.name}: the sample query fails on the {side}: {why}"
        ) from None
    src = _Side(source, _bound(query, values, source, query.source))
    tgt = _Side(target, _bound(query, values, target, query.target))
    try:
        source_plan = engines.explain(source, src.bound[0])
        src.once(0, timed=False)
    except Exception as exc:
        why = refusal(exc, source, withhold=withhold)
        raise BadInputError(
            f"performance.workload {query.name}: the source cannot run the query: {why}"
        ) from None
    try:
        target_plan = engines.explain(target, tgt.bound[0])
        tgt.once(0, timed=False)
    except Exception as exc:
        table = _main_table(query, source_plan)
        finding = target_refusal(query, table=table, why=refusal(exc, target, withhold=withhold))
        return QueryResult(name=query.name, table=table, source_plan=source_plan, findings=(finding,))
    _timed(settings, src, tgt, warmup=settings.warmup)
    comparison = compare(src.timings, tgt.timings)
    confirmed = True
    if is_regression(settings, comparison):
        # A second, independent round: only a slowdown seen in both is reported.
        src, tgt = (
            _Side(source, src.bound, answers=src.answers, fetched=src.fetched),
            _Side(target, tgt.bound, answers=tgt.answers, fetched=tgt.fetched),
        )
        _timed(settings, src, tgt, warmup=0)
        comparison = compare(src.timings, tgt.timings)
        confirmed = is_regression(settings, comparison)
    table = _main_table(query, source_plan)
    judged: Judged = judge(
        query=query,
        settings=settings,
        table=table,
        source=source,
        target=target,
        source_latency=latency(src.timings),
        target_latency=latency(tgt.timings),
        comparison=comparison,
        confirmed=confirmed,
        source_answers=src.answers,
        target_answers=tgt.answers,
        in_order=ordered(query.source) and ordered(query.target),
        source_plan=source_plan,
        target_plan=target_plan,
        target_names=target_names,
        schema_of=lambda connector, name: _schema(connector, name, schemas),
        target_bound=tgt.bound[0],
        hypopg_schema=hypopg_schema,
    )
    return QueryResult(
        name=query.name,
        table=table,
        source=judged.source_latency,
        target=judged.target_latency,
        comparison=judged.comparison,
        source_plan=source_plan,
        target_plan=target_plan,
        advice=judged.advice,
        findings=judged.findings,
        rows_fetched=(src.fetched, tgt.fetched),
    )


def _main_table(query: WorkloadQuery, source_plan: Plan | None) -> str:
    """The table a query's findings are filed under: the first its source plan reads."""
    return (
        (source_plan.tables[0].table if source_plan and source_plan.tables else None)
        or (query_table(query.source) or "").strip('"`').rsplit(".", 1)[-1]
        or query.name
    )


def _tables(workload: Sequence[WorkloadQuery]) -> list[str]:
    names = {(query_table(q.source) or "").strip('"`').rsplit(".", 1)[-1] for q in workload}
    return sorted(name for name in names if name)


def run_workload(
    settings: PerformanceSettings,
    *,
    source: Connector,
    target: Connector,
    target_names: Mapping[str, str] | None = None,
    withhold: bool = False,
) -> PerfResult:
    """Every workload query on both sides, read-only, under the statement timeout. A query that an
    engine refuses is a check_error finding; the other queries still run. ``withhold``: a column is
    classified above a reader's clearance, so the databases' messages keep only their codes."""
    started = resource.getrusage(resource.RUSAGE_SELF)
    names = {k.lower(): v for k, v in (target_names or {}).items()}
    schemas: dict[tuple[str, str], TableSchema | None] = {}
    results: list[QueryResult] = []
    errors: list[Finding] = []
    with (
        engines.statement_timeout(source, settings.timeout),
        engines.statement_timeout(target, settings.timeout),
        hypopg(target, allowed=settings.allow_hypopg) as hypo,
    ):
        captured = capture(settings, source=source, target=target, withhold=withhold)
        workload = [*settings.workload, *captured.queries]
        tables = _tables(workload)
        target_tables = sorted({names.get(t.lower(), t) for t in tables})
        before = {
            "source": engines.counters(source, tables),
            "target": engines.counters(target, target_tables),
        }
        for query in workload:
            where = (query_table(query.source) or query.name).strip('"`').rsplit(".", 1)[-1]
            done, error = guarded(
                Unit("performance", f"query {query.name}", where),
                withholding(
                    partial(
                        run_query,
                        query,
                        settings=settings,
                        source=source,
                        target=target,
                        target_names=names,
                        hypopg_schema=hypo,
                        schemas=schemas,
                        withhold=withhold,
                    ),
                    withhold=withhold,
                ),
                connectors=(source, target),
            )
            if done is not None:
                results.append(done)
            elif error is not None:
                errors.append(dataclasses.replace(error, query=query.name))
        after = {
            "source": engines.counters(source, tables),
            "target": engines.counters(target, target_tables),
        }
    finished = resource.getrusage(resource.RUSAGE_SELF)
    return PerfResult(
        queries=tuple(results),
        counters={side: engines.counter_deltas(before[side], after[side]) for side in before},
        cpu_seconds=(finished.ru_utime + finished.ru_stime) - (started.ru_utime + started.ru_stime),
        peak_rss_bytes=finished.ru_maxrss * 1024,
        findings_extra=tuple(errors),
        skipped=captured.skipped,
    )
