"""Schema comparison: columns, types, nullability, defaults, keys, constraints, indexes, sequences,
and field-mapping suggestions for renamed columns."""

from __future__ import annotations

from pm_pipeline.core.schema.compare import CHECK, SchemaComparison, compare_schemas, profiled_columns
from pm_pipeline.core.schema.profile import ColumnProfile, profile_similarity, value_text
from pm_pipeline.core.schema.pushdown import key_max, profile_columns
from pm_pipeline.core.schema.renames import RenameSuggestion, name_similarity, suggest_renames
from pm_pipeline.core.schema.type_map import SPELLINGS, TYPE_RULES, TypeRule, type_table_markdown
from pm_pipeline.core.schema.widths import TypeJudgement, judge_types

__all__ = [
    "CHECK",
    "SPELLINGS",
    "TYPE_RULES",
    "ColumnProfile",
    "RenameSuggestion",
    "SchemaComparison",
    "TypeJudgement",
    "TypeRule",
    "compare_schemas",
    "judge_types",
    "key_max",
    "name_similarity",
    "profile_columns",
    "profile_similarity",
    "profiled_columns",
    "suggest_renames",
    "type_table_markdown",
    "value_text",
]
