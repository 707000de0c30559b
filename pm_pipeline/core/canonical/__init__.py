"""Canonical values: how a value of (engine, type) becomes comparable, and how two are compared."""

from pm_pipeline.core.canonical.plan import DEFAULT_FLOAT_REL_TOLERANCE, ColumnPlan, comparison_family
from pm_pipeline.core.canonical.values import canonical_type, canonicalize

__all__ = ["DEFAULT_FLOAT_REL_TOLERANCE", "ColumnPlan", "canonical_type", "canonicalize", "comparison_family"]
