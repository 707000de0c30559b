"""The performance workload as a Dagster asset: its latency figures as metadata (the UI plots their
history), the ``latency_ok`` check, a job and, when the spec names one, a schedule.

Built only when the spec has a ``performance:`` section; the workload itself runs in
:func:`pm_pipeline.core.perf.run_workload`.
"""

from typing import Any

import dagster as dg

from pm_pipeline.core.config import MigrationSpec
from pm_pipeline.core.findings import Severity
from pm_pipeline.core.monitor.metrics import (
    LATENCY_RATIO,
    SOURCE_P50_MS,
    SOURCE_P95_MS,
    TARGET_P50_MS,
    TARGET_P95_MS,
    latency_metric_key,
)
from pm_pipeline.core.perf import PerfResult, run_workload
from pm_pipeline.core.perf.refusals import values_may_be_hidden
from pm_pipeline.defs.presentation import engine_kind, owners
from pm_pipeline.defs.resources import MigrationResource
from pm_pipeline.defs.tenancy import tenant_key, tenant_name, tenant_tags

PERFORMANCE_KEY = dg.AssetKey(["performance", "workload"])
PERFORMANCE_JOB = "performance_workload"


def performance_key() -> dg.AssetKey:
    """The workload's asset key in this code location (under its tenant, with one)."""
    return tenant_key(*PERFORMANCE_KEY.path)


LATENCY_OK = "latency_ok"


def workload_metadata(result: PerfResult) -> dict[str, Any]:
    """Per query p50/p95 on each side and their ratio, in milliseconds: numbers the UI plots."""
    metadata: dict[str, Any] = {
        "queries": dg.MetadataValue.int(len(result.queries)),
        "findings": dg.MetadataValue.int(len(result.findings)),
        "cpu_seconds": dg.MetadataValue.float(result.cpu_seconds),
    }
    # The alert sensor reads these keys back as each query's latency history (core.monitor.metrics).
    for query in result.queries:
        sides = ((SOURCE_P50_MS, SOURCE_P95_MS, query.source), (TARGET_P50_MS, TARGET_P95_MS, query.target))
        for p50, p95, figures in sides:
            if figures is not None:
                metadata[latency_metric_key(query.name, p50)] = dg.MetadataValue.float(figures.p50 * 1000)
                metadata[latency_metric_key(query.name, p95)] = dg.MetadataValue.float(figures.p95 * 1000)
        if query.comparison is not None:
            metadata[latency_metric_key(query.name, LATENCY_RATIO)] = dg.MetadataValue.float(
                query.comparison.ratio
            )
    return metadata


def latency_check(result: PerfResult, *, asset_key: dg.AssetKey = PERFORMANCE_KEY) -> dg.AssetCheckResult:
    """Passes when no query regressed, lost its plan or answered differently (errors); warnings and
    advice are listed but do not fail it."""
    errors = [f for f in result.findings if f.severity is Severity.ERROR]
    warnings = [f for f in result.findings if f.severity is Severity.WARNING]
    return dg.AssetCheckResult(
        check_name=LATENCY_OK,
        asset_key=asset_key,
        passed=not errors,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "errors": dg.MetadataValue.int(len(errors)),
            "warnings": dg.MetadataValue.int(len(warnings)),
            "failing": dg.MetadataValue.md(
                "\n".join(f"- {f.category}: {f.message}" for f in errors) or "none"
            ),
        },
    )


def build_performance_defs(
    spec: MigrationSpec,
) -> tuple[list[dg.AssetsDefinition], list[Any], list[dg.ScheduleDefinition]]:
    """The workload's asset, job and schedule; nothing when the spec has no workload."""
    if spec.performance is None:
        return [], [], []
    key = performance_key()

    @dg.asset(
        key=key,
        group_name="performance",
        kinds={engine_kind(spec.source.url), engine_kind(spec.target.url)},
        owners=owners(spec),
        description="The spec's query workload timed on source and target: latency with confidence "
        "intervals, plans, answers compared, proven index advice.",
        check_specs=[
            dg.AssetCheckSpec(
                LATENCY_OK,
                asset=key,
                description="no query slower beyond doubt, scanning where the source used an index, "
                "or answering differently",
            )
        ],
    )
    # No return annotation: Dagster reads it, and a subscripted MaterializeResult with a check
    # output is taken for a tuple of outputs.
    def performance_workload(context: dg.AssetExecutionContext, migration: MigrationResource):  # type: ignore[no-untyped-def]
        current = migration.spec()
        assert current.performance is not None
        with migration.connections(current) as (source, target):
            result = run_workload(
                current.performance,
                source=source,
                target=target,
                target_names={m.source: m.target_name for m in current.tables},
                withhold=values_may_be_hidden(current),
            )
        context.log.info(f"{len(result.queries)} queries timed, {len(result.findings)} findings")
        return dg.MaterializeResult(
            metadata=workload_metadata(result), check_results=[latency_check(result, asset_key=key)]
        )

    job = dg.define_asset_job(
        tenant_name(PERFORMANCE_JOB),
        selection=dg.AssetSelection.assets(key),
        description="Run the performance workload on source and target.",
        tags=tenant_tags(spec),
    )
    schedules = []
    if spec.performance.schedule:
        schedules.append(
            dg.ScheduleDefinition(
                name=tenant_name(f"{PERFORMANCE_JOB}_schedule"),
                job=job,
                cron_schedule=spec.performance.schedule,
            )
        )
    return [performance_workload], [job], schedules
