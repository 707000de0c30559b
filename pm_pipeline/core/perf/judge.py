"""One workload query's figures -> findings.

* ``result_mismatch``: the two sides answer differently (error); the same rows in another order
  under ORDER BY is a warning (ties sort either way).
* ``plan_regression``: a table the source reads by index and the target scans, on a target engine
  that reads by index (PostgreSQL, MariaDB/MySQL, SQLite: DuckDB scans by design): an error when the
  target has no index on those columns; when it has one the planner does not use, a warning only
  if the query is also slower (statistics not gathered since the load?): on a small table a scan
  is the planner's right choice. A plan cost growing beyond ``plan_cost_ratio`` between
  two servers of one engine is a warning.
* ``query_regression``: the 95% bootstrap interval of the ratio of medians (target / source)
  entirely above ``regression_ratio``, the target's median slower by more than ``min_slowdown``,
  and the one-sided rank test significant, in the first round of runs and again in a second,
  independent one (error): a burst of load on a shared machine rarely lasts through both.
* ``index_advice``: ``CREATE INDEX CONCURRENTLY`` for a lost index (info), with its HypoPG proof.

Messages name tables, columns and indexes, never a value: parameters come from real rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pm_pipeline.core.config.performance import PerformanceSettings, WorkloadQuery
from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.core.perf.advice import PROVEN, IndexAdvice, advise, covered, prove
from pm_pipeline.core.perf.params import Bound
from pm_pipeline.core.perf.plans import INDEX, SCAN, Plan
from pm_pipeline.core.perf.results import Answer
from pm_pipeline.core.perf.stats import Comparison, Latency

CHECK = "performance"


@dataclass(frozen=True)
class Judged:
    source_latency: Latency
    target_latency: Latency
    comparison: Comparison
    advice: tuple[IndexAdvice, ...]
    findings: tuple[Finding, ...]


def _finding(
    query: WorkloadQuery, table: str, category: Category, severity: Severity, message: str, **extra: Any
) -> Finding:
    return Finding(
        table=table,
        category=category,
        severity=severity,
        message=message,
        check=CHECK,
        query=query.name,
        **extra,
    )


def _answers(
    query: WorkloadQuery,
    table: str,
    source: Mapping[int, Answer],
    target: Mapping[int, Answer],
    *,
    in_order: bool,
) -> list[Finding]:
    for slot in sorted(source):
        if slot not in target:
            continue
        why = source[slot].differs(target[slot], in_order=in_order)
        if why is None:
            continue
        order_only = source[slot].rows == target[slot].rows and source[slot].multiset == target[slot].multiset
        return [
            _finding(
                query,
                table,
                Category.RESULT_MISMATCH,
                Severity.WARNING if order_only else Severity.ERROR,
                f"query {query.name} answers differently with parameter set {slot + 1}: {why}",
                source_value=source[slot].rows,
                target_value=target[slot].rows,
                rule="ordered" if in_order else "multiset",
            )
        ]
    return []


def is_regression(settings: PerformanceSettings, comparison: Comparison) -> bool:
    """Slower beyond doubt: the whole 95% interval of the ratio above ``regression_ratio`` (a few
    slow runs on a shared machine widen the interval instead of raising an alarm), the median
    slower by more than ``min_slowdown``, and the rank test significant."""
    return (
        comparison.ratio_ci.low > settings.regression_ratio
        and comparison.slowdown > settings.min_slowdown_seconds
        and comparison.p_value < settings.significance
    )


def _latency(
    query: WorkloadQuery,
    table: str,
    settings: PerformanceSettings,
    src: Latency,
    tgt: Latency,
    comparison: Comparison,
) -> list[Finding]:
    if not is_regression(settings, comparison):
        return []
    return [
        _finding(
            query,
            table,
            Category.QUERY_REGRESSION,
            Severity.ERROR,
            f"query {query.name} is {comparison.ratio:.1f}x slower on the target: median "
            f"{tgt.p50 * 1000:.2f} ms vs {src.p50 * 1000:.2f} ms (95% interval of the ratio "
            f"{comparison.ratio_ci.low:.1f}-{comparison.ratio_ci.high:.1f}, rank test p={comparison.p_value:.2g})",
            source_value=src.to_json(),
            target_value=tgt.to_json(),
            rule=f"ratio>{settings.regression_ratio:g} and p<{settings.significance:g}",
        )
    ]


def judge(
    *,
    query: WorkloadQuery,
    settings: PerformanceSettings,
    table: str,
    source: Connector,
    target: Connector,
    source_latency: Latency,
    target_latency: Latency,
    comparison: Comparison,
    source_answers: Mapping[int, Answer],
    target_answers: Mapping[int, Answer],
    in_order: bool,
    source_plan: Plan | None,
    target_plan: Plan | None,
    target_names: Mapping[str, str],
    schema_of: Callable[[Connector, str], TableSchema | None],
    target_bound: Bound,
    hypopg_schema: str | None,
    confirmed: bool = True,
) -> Judged:
    findings = _answers(query, table, source_answers, target_answers, in_order=in_order)
    regressed = (
        _latency(query, table, settings, source_latency, target_latency, comparison) if confirmed else []
    )
    findings += regressed
    slower = bool(regressed)
    advice: list[IndexAdvice] = []
    lost = False
    if source_plan is not None and target_plan is not None and target.dialect.reads_tables_by_index:
        for access in source_plan.tables:
            if access.path != INDEX:
                continue
            target_table = target_names.get(access.table.lower(), access.table)
            on_target = target_plan.access(target_table)
            if on_target is None or on_target.path != SCAN:
                continue
            lost = True
            target_schema = schema_of(target, target_table)
            advised = advise(
                target=target,
                target_table=target_table,
                source_access=access,
                target_access=on_target,
                source_schema=schema_of(source, access.table),
                target_schema=target_schema,
            )
            existing = None if advised is None else covered(target_schema, advised.columns)
            if existing is not None and not slower:
                continue  # the planner may scan a small table with the index there: its choice
            if existing is not None:
                message = (
                    f"query {query.name}: the source reads {access.table} by {access.label}; the target "
                    f"scans {target_table} although it has {existing} on these columns "
                    "(statistics not gathered since the load? run ANALYZE)"
                )
                severity = Severity.WARNING
            else:
                message = (
                    f"query {query.name}: the source reads {access.table} by {access.label}; the target "
                    f"scans {target_table}: no index serves the query there"
                )
                severity = Severity.ERROR
            columns = None if advised is None else ", ".join(advised.columns)
            findings.append(
                _finding(
                    query,
                    access.table,
                    Category.PLAN_REGRESSION,
                    severity,
                    message,
                    column=columns,
                    source_value=access.label,
                    target_value=on_target.label,
                    rule="index_to_scan",
                )
            )
            if advised is not None and existing is None:
                proven = prove(advised, target=target, bound=target_bound, schema=hypopg_schema)
                advice.append(proven)
                findings.append(_advice_finding(query, access.table, proven))
    if not lost and source_plan is not None and target_plan is not None:
        findings += _cost_growth(query, table, settings, source, target, source_plan, target_plan)
    return Judged(source_latency, target_latency, comparison, tuple(advice), tuple(findings))


def _advice_finding(query: WorkloadQuery, table: str, advice: IndexAdvice) -> Finding:
    if advice.proof == PROVEN and advice.factor is not None:
        proof = (
            f"proven with HypoPG: the planner picks it and the cost drops {advice.factor:,.1f}x "
            f"({advice.cost_before:,.2f} -> {advice.cost_after:,.2f})"
        )
    else:
        proof = f"{advice.proof.replace('_', ' ')}: {advice.proof_note}"
    return _finding(
        query,
        table,
        Category.INDEX_ADVICE,
        Severity.INFO,
        f"query {query.name}: {advice.statement} (from {advice.reason}); {proof}",
        column=", ".join(advice.columns),
        target_value={
            "statement": advice.statement,
            "proof": advice.proof,
            "cost_before": advice.cost_before,
            "cost_after": advice.cost_after,
            "factor": advice.factor,
        },
        rule=advice.proof,
    )


def _cost_growth(
    query: WorkloadQuery,
    table: str,
    settings: PerformanceSettings,
    source: Connector,
    target: Connector,
    source_plan: Plan,
    target_plan: Plan,
) -> list[Finding]:
    if source.engine != target.engine or not source_plan.cost or target_plan.cost is None:
        return []  # costs are in each engine's own unit
    ratio = target_plan.cost / source_plan.cost
    if ratio <= settings.plan_cost_ratio:
        return []
    return [
        _finding(
            query,
            table,
            Category.PLAN_REGRESSION,
            Severity.WARNING,
            f"query {query.name}: the target's plan costs {ratio:,.1f}x the source's "
            f"({target_plan.cost:,.2f} vs {source_plan.cost:,.2f})",
            source_value=source_plan.cost,
            target_value=target_plan.cost,
            rule=f"cost_ratio>{settings.plan_cost_ratio:g}",
        )
    ]
