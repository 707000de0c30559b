"""The rollback as a Dagster job: one op per plan step, chained by dependency in foreign-key order.

The run's ``rollback`` resource decides between a dry run (the default: every step reads and
checks, nothing is written, the SQL is shown) and a real run. Guards live in core, not here. (No ``from __future__ import annotations``: Dagster reads the
op's ``context`` annotation at definition time.)
"""

from pathlib import Path
from typing import Any

import dagster as dg

from pm_pipeline.core.config.rollback import RollbackSettings
from pm_pipeline.core.config.spec import MigrationSpec
from pm_pipeline.core.rollback import RollbackPlan, plan_for, run_step
from pm_pipeline.core.rollback.plan import PlanStep
from pm_pipeline.core.rollback.snapshot import latest_snapshot
from pm_pipeline.core.security.audit import AuditLog
from pm_pipeline.core.security.settings import spec_audit_log
from pm_pipeline.defs.audit import run_origin

ROLLBACK_JOB_NAME = "pm_rollback"


class RollbackRunResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """How a launched rollback runs: dry (default) or for real, and who launched it."""

    dry_run: bool = True
    actor: str = "dagster"


def _step_op(plan: RollbackPlan, step: PlanStep, *, audit_log: AuditLog, export_dir: str) -> dg.OpDefinition:
    @dg.op(
        name=step.name,
        description=step.description,
        ins={dep: dg.In(dg.Nothing) for dep in step.depends_on},
        out=dg.Out(dg.Nothing),
        tags={"pm/step": step.kind, "pm/destructive": str(step.destructive).lower()},
    )
    def _run(context: dg.OpExecutionContext, rollback: RollbackRunResource) -> Any:
        # Keyed and anchored as the spec says, and recorded with where the run came from.
        origin, _ = run_origin(context.run.tags)
        result = run_step(
            plan,
            step,
            audit_log=AuditLog(audit_log.path, config=audit_log.config, origin=origin),
            export_dir=export_dir,
            dry_run=rollback.dry_run,
            actor=rollback.actor,
        )
        context.log.info(f"{step.name}: {result.status}: {result.detail}")
        if result.sql:
            context.log.info("SQL:\n" + "\n".join(result.sql))
        yield dg.Output(
            None,
            metadata={
                "status": result.status,
                "detail": result.detail,
                "sql": dg.MetadataValue.md(
                    "```sql\n" + "\n".join(result.sql) + "\n```" if result.sql else "-"
                ),
                "plan_checksum": plan.checksum,
            },
        )

    return _run


def build_rollback_job(
    spec_or_plan: MigrationSpec | RollbackPlan,
    *,
    audit_log: str | Path | None = None,
    export_dir: str | Path | None = None,
    name: str = ROLLBACK_JOB_NAME,
) -> dg.JobDefinition:
    """A job for a plan, or for the newest verified snapshot named by a spec's ``rollback`` section."""
    if isinstance(spec_or_plan, MigrationSpec):
        settings = spec_or_plan.rollback_settings
        plan = plan_for(settings, latest_snapshot(settings.snapshot_dir), target_url=spec_or_plan.target.url)
        configured = spec_audit_log(spec_or_plan, origin="dagster", for_rollback=True)
        assert configured is not None  # the rollback always has a log
        audit = AuditLog(audit_log, config=configured.config) if audit_log else configured
    else:
        plan = spec_or_plan
        audit = AuditLog(audit_log or RollbackSettings().audit_log)
    exports = str(export_dir or plan.export_dir)
    ops = [_step_op(plan, step, audit_log=audit, export_dir=exports) for step in plan.steps]
    dependencies: dict[str, dict[str, dg.DependencyDefinition]] = {
        step.name: {dep: dg.DependencyDefinition(dep) for dep in step.depends_on} for step in plan.steps
    }
    graph = dg.GraphDefinition(
        name=name,
        description=f"Rollback to snapshot {plan.snapshot_id} (plan {plan.checksum[:12]})\n\n{plan.describe()}",
        node_defs=ops,
        dependencies=dependencies,
    )
    return graph.to_job(
        resource_defs={"rollback": RollbackRunResource()},
        tags={"pm/plan_checksum": plan.checksum, "pm/snapshot": plan.snapshot_id},
    )
