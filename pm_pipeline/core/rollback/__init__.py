"""Rollback: verified snapshots, FK-ordered restore plans, risk, approvals, transactional restore."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pm_pipeline.core.config.rollback import RollbackSettings, parse_rollback
    from pm_pipeline.core.rollback.approvals import Approval, approvals_for, approve
    from pm_pipeline.core.rollback.execute import (
        ExecutionResult,
        StepResult,
        execute_plan,
        run_step,
    )
    from pm_pipeline.core.rollback.manifest import Manifest
    from pm_pipeline.core.rollback.plan import PlanStep, RollbackPlan, build_plan, plan_for
    from pm_pipeline.core.rollback.risk import RiskAssessment, TableChanges, assess_risk
    from pm_pipeline.core.rollback.snapshot import (
        create_snapshot,
        latest_snapshot,
        load_manifest,
        verify_snapshot,
    )
    from pm_pipeline.core.rollback.verify import verify_restored
    from pm_pipeline.core.security.audit import AuditLog, verify_audit_log

# Imported on first use: importing a name from here must not pull in snapshots, plans and
# restores that the caller does not use.
_EXPORTS = {
    "Approval": "pm_pipeline.core.rollback.approvals",
    "AuditLog": "pm_pipeline.core.security.audit",
    "ExecutionResult": "pm_pipeline.core.rollback.execute",
    "Manifest": "pm_pipeline.core.rollback.manifest",
    "PlanStep": "pm_pipeline.core.rollback.plan",
    "RiskAssessment": "pm_pipeline.core.rollback.risk",
    "RollbackPlan": "pm_pipeline.core.rollback.plan",
    "RollbackSettings": "pm_pipeline.core.config.rollback",
    "StepResult": "pm_pipeline.core.rollback.execute",
    "TableChanges": "pm_pipeline.core.rollback.risk",
    "approvals_for": "pm_pipeline.core.rollback.approvals",
    "approve": "pm_pipeline.core.rollback.approvals",
    "assess_risk": "pm_pipeline.core.rollback.risk",
    "build_plan": "pm_pipeline.core.rollback.plan",
    "plan_for": "pm_pipeline.core.rollback.plan",
    "create_snapshot": "pm_pipeline.core.rollback.snapshot",
    "execute_plan": "pm_pipeline.core.rollback.execute",
    "latest_snapshot": "pm_pipeline.core.rollback.snapshot",
    "load_manifest": "pm_pipeline.core.rollback.snapshot",
    "parse_rollback": "pm_pipeline.core.config.rollback",
    "run_step": "pm_pipeline.core.rollback.execute",
    "verify_audit_log": "pm_pipeline.core.security.audit",
    "verify_restored": "pm_pipeline.core.rollback.verify",
    "verify_snapshot": "pm_pipeline.core.rollback.snapshot",
}

__all__ = [
    "Approval",
    "AuditLog",
    "ExecutionResult",
    "Manifest",
    "PlanStep",
    "RiskAssessment",
    "RollbackPlan",
    "RollbackSettings",
    "StepResult",
    "TableChanges",
    "approvals_for",
    "approve",
    "assess_risk",
    "build_plan",
    "create_snapshot",
    "execute_plan",
    "latest_snapshot",
    "load_manifest",
    "parse_rollback",
    "plan_for",
    "run_step",
    "verify_audit_log",
    "verify_restored",
    "verify_snapshot",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value
