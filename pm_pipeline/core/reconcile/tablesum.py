"""``xor64-sql-rowhash-1`` table digests (:mod:`pm_pipeline.core.digest.tablesum`), computed
inside the database with the bucket pass's row hash.

The bucket strategy gets a table's digest from its bucket summary (:func:`from_buckets`); other
strategies on engines that hash in SQL get it from one aggregate scan per side
(:func:`table_digest`); a recorded side is recomputed from its recipe alone (:func:`recompute`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pm_pipeline.core.canonical.plan import ColumnPlan, recorded_plan
from pm_pipeline.core.config.spec import ColumnRule
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.digest import tablesum as contract
from pm_pipeline.core.findings import SideDigest
from pm_pipeline.core.reconcile import bucket, sqlhash
from pm_pipeline.core.reconcile.planning import TablePlan
from pm_pipeline.core.reconcile.sides import SideReader


def _recipe(reader: SideReader, plan: TablePlan, pushed: frozenset[int]) -> dict[str, Any]:
    """What rebuilds ``reader``'s row hash: the columns in hash order with their families, and how."""
    binned = {
        reader.column_name(column): column.rel_tolerance
        for index, column in enumerate(plan.values)
        if index not in pushed
    }
    return contract.recipe(
        dialect=None if reader.dialect is None else reader.dialect.name,
        native_hash=reader.native_hash,
        key_columns=len(plan.keys),
        binned=binned,
    )


def from_buckets(
    summary: Mapping[int, tuple[int, str]], *, reader: SideReader, plan: TablePlan, pushed: frozenset[int]
) -> SideDigest:
    """The digest of a whole table from its bucket summary (bucket -> rows, XOR as text)."""
    xor = 0
    for _, text in summary.values():
        xor ^= int(text) & contract.MASK64
    return SideDigest(
        algorithm=contract.ALGORITHM,
        rows=sum(rows for rows, _ in summary.values()),
        checksum=contract.checksum(xor),
        recipe=_recipe(reader, plan, pushed),
    )


def _aggregate(reader: SideReader, row_hash: str) -> tuple[int, int]:
    assert reader.dialect is not None
    inner = f"SELECT {row_hash} AS h FROM {reader.connector.qualified(reader.table)}"
    xor = reader.dialect.text_cast("bit_xor(h)")
    rows, text = reader.connector.execute(f"SELECT count(*), {xor} FROM ({inner}) x")[0]
    return int(rows), 0 if text is None else int(text)


def table_digest(reader: SideReader, plan: TablePlan, pushed: frozenset[int]) -> SideDigest:
    """One aggregate scan of ``reader``'s table inside its database."""
    rows, xor = _aggregate(reader, bucket.row_hash_sql(reader, plan, pushed))
    return SideDigest(
        algorithm=contract.ALGORITHM,
        rows=rows,
        checksum=contract.checksum(xor),
        recipe=_recipe(reader, plan, pushed),
    )


def recompute(
    connector: Connector,
    *,
    table: str,
    side: str,
    columns: Sequence[str],
    families: Sequence[str],
    zone: str,
    recipe: Mapping[str, Any],
) -> tuple[int, str]:
    """(rows, checksum) of one recorded side, now."""
    schema = connector.introspect(table)
    binned: Mapping[str, float] = recipe.get("binned", {})
    plans: list[ColumnPlan] = []
    for name, family in zip(columns, families, strict=True):
        plan = recorded_plan(schema.column(name), family, zone=zone)
        if name in binned:
            plan = _with_tolerance(plan, float(binned[name]))
        plans.append(plan)
    keys = int(recipe.get("key_columns", 0))
    table_plan = TablePlan(
        table=table,
        target_table=table,
        keys=tuple(plans[:keys]),
        values=tuple(plans[keys:]),
        source_only=(),
        target_only=(),
    )
    dialect = sqlhash.dialect_of(connector.engine)
    if dialect is None or dialect.name != recipe.get("dialect"):
        raise ValueError(f"{connector.engine} cannot recompute a {recipe.get('dialect')} row hash")
    native = bool(recipe.get("native_hash"))
    reader = SideReader("source" if side == "source" else "target", connector, table, schema, dialect, native)
    pushed = frozenset(i for i, plan in enumerate(table_plan.values) if plan.source.name not in binned)
    rows, xor = _aggregate(reader, bucket.row_hash_sql(reader, table_plan, pushed))
    return rows, contract.checksum(xor)


def _with_tolerance(plan: ColumnPlan, rel_tolerance: float) -> ColumnPlan:
    rule = ColumnRule(**{**plan.rule.model_dump(exclude_unset=True), "rel_tolerance": rel_tolerance})
    return ColumnPlan(
        source=plan.source,
        target=plan.target,
        family=plan.family,
        rule=rule,
        source_zone=plan.source_zone,
        target_zone=plan.target_zone,
    )
