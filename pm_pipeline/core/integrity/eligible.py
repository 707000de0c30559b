"""Which generated expectations a column pair may get (the rules listed in :mod:`.suite`).

A boolean, SET, array, JSON, float or binary pair gets at most a not-null; uniqueness, value sets,
lengths and ranges each need both sides in a family where the database compares them as the
canonical values do, and no declared rule that rewrites them.
"""

from __future__ import annotations

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import Column, TypeFamily
from pm_pipeline.core.integrity.sql_expectations import canonical_text, distinct_value

F = TypeFamily
_NUMBERS = {F.INTEGER, F.DECIMAL}
_TEMPORAL = {F.DATE, F.TIMESTAMP, F.TIMESTAMPTZ}
_TEXTS = {F.TEXT, F.ENUM}
_UNIQUE_FAMILIES = _NUMBERS | _TEMPORAL | {F.TEXT, F.UUID}


def _bit(column: Column) -> bool:
    return column.data_type.strip().lower().startswith("bit")


def _rewrites_text(plan: ColumnPlan) -> bool:
    rule = plan.rule
    return bool(rule.trim or rule.case_insensitive or rule.unicode_nfc or rule.value_map)


def _both(plan: ColumnPlan, families: set[TypeFamily]) -> bool:
    return plan.source.family in families and plan.target.family in families and not _bit(plan.source)


class Eligibility:
    """Which expectations a column pair may get, given both connectors."""

    def __init__(
        self, source: Connector, target: Connector, plan: ColumnPlan, *, key: bool, zones_known: bool
    ) -> None:
        self.plan, self.key, self.zones_known = plan, key, zones_known
        texts = [canonical_text(source, plan, "source"), canonical_text(target, plan, "target")]
        self.has_text = None not in texts
        # a side that keeps dates as text or numbers (SQLite) compares them as such: no date range
        self.untyped = source.dialect.dynamic_typing or target.dialect.dynamic_typing
        self.has_distinct = None not in (
            distinct_value(source, plan, "source"),
            distinct_value(target, plan, "target"),
        )

    @property
    def not_null(self) -> bool:
        value_map = self.plan.rule.value_map or {}
        return None not in value_map.values()  # a value mapped to NULL may leave the target NULL

    @property
    def unique(self) -> bool:
        plan = self.plan
        if plan.family not in _UNIQUE_FAMILIES or plan.tolerant or _rewrites_text(plan):
            return False
        if plan.rule.timestamp_precision or not self.has_distinct:
            return False
        if plan.family in _NUMBERS:
            return _both(plan, _NUMBERS)
        if plan.family in _TEMPORAL:
            return _both(plan, _TEMPORAL)
        return _both(plan, _TEXTS | {F.UUID}) and self.has_text

    @property
    def in_set(self) -> bool:
        plan = self.plan
        if self.key or _rewrites_text(plan) or not self.has_text:
            return False
        return (plan.family is F.TEXT and _both(plan, _TEXTS)) or (
            plan.family is F.INTEGER and _both(plan, {F.INTEGER}) and not _bit(plan.target)
        )

    @property
    def length(self) -> bool:
        plan = self.plan
        return (
            not self.key and plan.family is F.TEXT and _both(plan, {F.TEXT}) and not _rewrites_text(plan)
        ) and self.has_text

    @property
    def range(self) -> bool:
        plan = self.plan
        if self.key or plan.source.identity or plan.target.identity or plan.rule.value_map:
            return False
        if plan.family in _NUMBERS:
            return _both(plan, _NUMBERS) and not _bit(plan.target)
        same_zone = (
            self.zones_known
            and plan.source_zone == plan.target_zone
            and not (plan.rule.source_timezone or plan.rule.target_timezone)
        )
        if self.untyped or (plan.family is F.TIMESTAMP and not same_zone):
            return False
        return plan.family in (F.DATE, F.TIMESTAMP) and _both(plan, {plan.family})
