"""The performance monitor: a workload of queries timed on both sides with confidence intervals,
plans side by side, answers compared, regressions as findings, and index advice proven with HypoPG
before it is given."""

from pm_pipeline.core.perf.model import PerfResult, QueryResult
from pm_pipeline.core.perf.workload import run_query, run_workload

__all__ = ["PerfResult", "QueryResult", "run_query", "run_workload"]
