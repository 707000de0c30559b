"""Reconciliation: stream and hash both sides, join by canonical key, diff suspects column by column."""

from pm_pipeline.core.reconcile.engine import ReconcileOptions, reconcile_table
from pm_pipeline.core.reconcile.planning import TablePlan, plan_table

__all__ = ["ReconcileOptions", "TablePlan", "plan_table", "reconcile_table"]
