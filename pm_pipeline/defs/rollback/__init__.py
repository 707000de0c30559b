"""Dagster layer of the rollback feature: the plan as a job of ops."""

from pm_pipeline.defs.rollback.jobs import ROLLBACK_JOB_NAME, RollbackRunResource, build_rollback_job

__all__ = ["ROLLBACK_JOB_NAME", "RollbackRunResource", "build_rollback_job"]
