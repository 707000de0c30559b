"""Rollback: verified snapshots, FK-ordered restore plans, risk, approvals, transactional restore."""

from pm_pipeline.core.rollback.approvals import Approval, approvals_for, approve
from pm_pipeline.core.rollback.execute import (
    ExecutionResult,
    StepResult,
    execute_plan,
    run_step,
    verify_restored,
)
from pm_pipeline.core.rollback.plan import PlanStep, RollbackPlan, build_plan
from pm_pipeline.core.rollback.risk import RiskAssessment, TableChanges, assess_risk
from pm_pipeline.core.rollback.settings import RollbackSettings, parse_rollback
from pm_pipeline.core.rollback.snapshot import (
    Manifest,
    create_snapshot,
    latest_snapshot,
    load_manifest,
    verify_snapshot,
)
from pm_pipeline.core.security.audit import AuditLog, verify_audit_log

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
    "run_step",
    "verify_audit_log",
    "verify_restored",
    "verify_snapshot",
]
