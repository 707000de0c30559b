"""What a workload run returns: per query figures, plans, advice and findings, and the servers'
counters, as frozen data the CLI, the reports and the findings JSON view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pm_pipeline.core.findings import Finding
from pm_pipeline.core.perf.advice import IndexAdvice
from pm_pipeline.core.perf.plans import Plan
from pm_pipeline.core.perf.stats import Comparison, Latency


@dataclass(frozen=True)
class QueryResult:
    """One workload query on both sides: its figures, plans, advice and findings."""

    name: str
    table: str
    source: Latency | None = None
    target: Latency | None = None
    comparison: Comparison | None = None
    source_plan: Plan | None = None
    target_plan: Plan | None = None
    advice: tuple[IndexAdvice, ...] = ()
    findings: tuple[Finding, ...] = ()
    rows_fetched: tuple[int, int] = (0, 0)  # rows read into the process over every run, per side

    def to_json(self) -> dict[str, Any]:
        comparison = self.comparison
        return {
            "query": self.name,
            "table": self.table,
            "source": None if self.source is None else self.source.to_json(),
            "target": None if self.target is None else self.target.to_json(),
            "ratio": None if comparison is None else comparison.ratio,
            "ratio_ci": None if comparison is None else [comparison.ratio_ci.low, comparison.ratio_ci.high],
            "p_value": None if comparison is None else comparison.p_value,
            "rows_fetched": {"source": self.rows_fetched[0], "target": self.rows_fetched[1]},
            "source_plan": None if self.source_plan is None else self.source_plan.to_json(),
            "target_plan": None if self.target_plan is None else self.target_plan.to_json(),
            "advice": [
                {
                    "table": a.table,
                    "columns": list(a.columns),
                    "statement": a.statement,
                    "proof": a.proof,
                    "cost_before": a.cost_before,
                    "cost_after": a.cost_after,
                    "factor": a.factor,
                }
                for a in self.advice
            ],
            "findings": len(self.findings),
        }


@dataclass(frozen=True)
class PerfResult:
    """The workload's outcome: per query figures, the servers' counters and the findings."""

    queries: tuple[QueryResult, ...]
    counters: Mapping[str, Mapping[str, Mapping[str, int]]] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    peak_rss_bytes: int = 0
    findings_extra: tuple[Finding, ...] = ()  # check errors of queries that could not run
    # captured statements left out of the workload, and why (no parameter could be drawn, ...)
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for q in self.queries for f in q.findings) + self.findings_extra

    def to_json(self) -> dict[str, Any]:
        return {
            "queries": [q.to_json() for q in self.queries],
            "counters": {side: dict(tables) for side, tables in self.counters.items()},
            "cpu_seconds": self.cpu_seconds,
            "peak_rss_bytes": self.peak_rss_bytes,
            "skipped": [{"query": name, "reason": reason} for name, reason in self.skipped],
        }
