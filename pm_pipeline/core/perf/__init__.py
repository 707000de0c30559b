"""The performance monitor: a workload of queries timed on both sides with confidence intervals,
plans side by side, answers compared, regressions as findings, and index advice proven with HypoPG
before it is given."""

from pm_pipeline.core.perf.workload import PerfResult, QueryResult, run_query, run_workload

__all__ = ["PerfResult", "QueryResult", "run_query", "run_workload"]
