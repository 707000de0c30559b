"""Pair the columns of a source and a target table and decide how each pair is compared."""

from __future__ import annotations

from dataclasses import dataclass

from pm_pipeline.core.canonical.plan import ColumnPlan, comparison_family
from pm_pipeline.core.config.spec import ColumnRule, TableMapping
from pm_pipeline.core.connectors.schema import Column, TableSchema, TypeFamily
from pm_pipeline.core.errors import BadInputError


@dataclass(frozen=True)
class TablePlan:
    """The compared columns of one mapped table; key plans come first in ``keys``."""

    table: str
    target_table: str
    keys: tuple[ColumnPlan, ...]
    values: tuple[ColumnPlan, ...]
    source_only: tuple[str, ...]  # source columns with no target column (schema reports them)
    target_only: tuple[str, ...]

    @property
    def keyless(self) -> bool:
        return not self.keys

    @property
    def all_plans(self) -> tuple[ColumnPlan, ...]:
        return self.keys + self.values

    @property
    def hashed(self) -> tuple[ColumnPlan, ...]:
        return tuple(plan for plan in self.values if not plan.tolerant)

    @property
    def tolerant(self) -> tuple[ColumnPlan, ...]:
        return tuple(plan for plan in self.values if plan.tolerant)

    def key_declared_unique(self, schema: TableSchema, side: str) -> bool:
        """Whether ``schema`` (one side's table) guarantees one row per canonical key.

        True when some of the key columns hold a primary key, or a unique constraint on NOT NULL
        columns, and each of those is an integer on this side with no declared value map:
        canonical integers are the values themselves, so no two distinct keys meet in canonical form.
        """
        if self.keyless:
            return False
        names = {
            column.name
            for plan, column in ((p, p.source if side == "source" else p.target) for p in self.keys)
            if plan.family is TypeFamily.INTEGER
            and column.family is TypeFamily.INTEGER
            and not plan.rule.value_map
        }
        return any(set(key) <= names for key in schema.unique_keys())


def _find_target_column(target: TableSchema, name: str) -> Column | None:
    for column in target.columns:
        if column.name == name:
            return column
    # PostgreSQL folds unquoted names to lower case; a MySQL 'CustomerID' lands as 'customerid'.
    folded = [column for column in target.columns if column.name.lower() == name.lower()]
    return folded[0] if len(folded) == 1 else None


def _key_names(mapping: TableMapping, source: TableSchema, target: TableSchema) -> list[str]:
    """The spec's key (``key: []`` asks for a multiset compare), else the source's primary key,
    else the target's primary key spelled in source names: a file or a keyless legacy table whose
    migration declared a key is compared row by row (with tolerances and explanations), not as a
    multiset in which a last-digit float difference turns one row into a missing and an extra one."""
    if mapping.key is not None:
        return list(mapping.key)
    if source.primary_key:
        return list(source.primary_key)
    by_target: dict[str, str] = {}
    for column in source.columns:
        if column.name in mapping.ignore:
            continue
        found = _find_target_column(target, mapping.renames.get(column.name, column.name))
        if found is not None:
            by_target.setdefault(found.name, column.name)
    mapped = [by_target.get(name) for name in target.primary_key]
    return [name for name in mapped if name is not None] if all(mapped) else []


def plan_table(
    *,
    mapping: TableMapping,
    source: TableSchema,
    target: TableSchema,
    source_zone: str = "UTC",
    target_zone: str = "UTC",
) -> TablePlan:
    """Build the comparison plan. Raises BadInputError for a key or rule naming an unknown column."""
    source_names = set(source.column_names)
    for name in [*mapping.renames, *mapping.ignore, *mapping.columns]:
        if name not in source_names:
            raise BadInputError(
                f"table {mapping.source}: the spec names column {name!r}, which the source table does not have "
                f"(columns: {', '.join(source.column_names)})"
            )
    key_names = _key_names(mapping, source, target)
    for name in key_names:
        if name not in source_names:
            raise BadInputError(f"table {mapping.source}: key column {name!r} is not in the source table")
    keys: list[ColumnPlan] = []
    values: list[ColumnPlan] = []
    source_only: list[str] = []
    used_targets: set[str] = set()
    for column in source.columns:
        if column.name in mapping.ignore:
            continue
        target_name = mapping.renames.get(column.name, column.name)
        target_column = _find_target_column(target, target_name)
        if target_column is None:
            if column.name in key_names:
                raise BadInputError(
                    f"table {mapping.source}: key column {column.name!r} has no counterpart "
                    f"{target_name!r} in target table {mapping.target_name}; map it under 'renames'"
                )
            source_only.append(column.name)
            continue
        if target_column.name in used_targets:  # one target column cannot hold two source columns
            first = next(plan.name for plan in (*keys, *values) if plan.target.name == target_column.name)
            raise BadInputError(
                f"table {mapping.source}: source columns {first!r} and {column.name!r} both map to target column "
                f"{target_column.name!r}; map one of them elsewhere under 'renames' (or list it under 'ignore')"
            )
        used_targets.add(target_column.name)
        rule = mapping.columns.get(column.name, ColumnRule())
        plan = ColumnPlan(
            source=column,
            target=target_column,
            family=comparison_family(column, target_column, rule),
            rule=rule,
            source_zone=source_zone,
            target_zone=target_zone,
        )
        (keys if column.name in key_names else values).append(plan)
    keys.sort(key=lambda plan: key_names.index(plan.name))
    ignored_targets = {mapping.renames.get(name, name) for name in mapping.ignore}
    target_only = tuple(
        column.name
        for column in target.columns
        if column.name not in used_targets and column.name not in ignored_targets
    )
    return TablePlan(
        table=mapping.source,
        target_table=mapping.target_name,
        keys=tuple(keys),
        values=tuple(values),
        source_only=tuple(source_only),
        target_only=target_only,
    )
