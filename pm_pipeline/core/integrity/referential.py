"""Referential integrity inside the target: orphans by pushdown anti-join, and foreign keys lost.

A declared foreign key does not prove its rows are valid: a load with triggers or checks disabled
(``session_replication_role = replica``, ``FOREIGN_KEY_CHECKS = 0``) keeps the constraint and the
orphans. So every relation known from the source, the target or the spec is counted again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import ForeignKey, TableSchema
from pm_pipeline.core.findings import Category, Finding, Severity, json_value
from pm_pipeline.core.integrity.settings import ForeignKeyDecl

CHECK = "integrity"


@dataclass(frozen=True)
class Relation:
    """One foreign key in target names, and where it was declared (source, target, spec)."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    declared_in: tuple[str, ...]

    @property
    def signature(self) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
        return (
            tuple(c.lower() for c in self.columns),
            self.ref_table.lower(),
            tuple(c.lower() for c in self.ref_columns),
        )

    @property
    def label(self) -> str:
        return f"({', '.join(self.columns)}) -> {self.ref_table}({', '.join(self.ref_columns)})"


def source_fk_in_target_names(
    fk: ForeignKey, *, mapping: TableMapping, table_names: Mapping[str, str]
) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """A source foreign key spelled with target names (column renames of this table apply to its
    own columns; the referenced table is renamed through ``table_names``)."""
    columns = tuple(mapping.renames.get(name, name) for name in fk.columns)
    return columns, table_names.get(fk.ref_table, fk.ref_table), fk.ref_columns


def collect_relations(
    *,
    mapping: TableMapping,
    source_schema: TableSchema,
    target_schema: TableSchema,
    declared: Iterable[ForeignKeyDecl],
    table_names: Mapping[str, str],
) -> list[Relation]:
    found: dict[tuple[tuple[str, ...], str, tuple[str, ...]], Relation] = {}

    def add(columns: Sequence[str], ref_table: str, ref_columns: Sequence[str], where: str) -> None:
        relation = Relation(tuple(columns), ref_table, tuple(ref_columns), (where,))
        known = found.get(relation.signature)
        if known is None:
            found[relation.signature] = relation
        elif where not in known.declared_in:
            found[relation.signature] = Relation(
                known.columns, known.ref_table, known.ref_columns, (*known.declared_in, where)
            )

    for fk in target_schema.foreign_keys:
        add(fk.columns, fk.ref_table, fk.ref_columns, "target")
    for fk in source_schema.foreign_keys:
        add(*source_fk_in_target_names(fk, mapping=mapping, table_names=table_names), "source")
    for decl in declared:
        add(decl.columns, decl.ref_table, decl.ref_columns, "spec")
    return list(found.values())


def missing_foreign_keys(*, table: str, relations: Iterable[Relation]) -> list[Finding]:
    """Foreign keys the source declares that the target lost."""
    return [
        Finding(
            table=table,
            category=Category.FOREIGN_KEY_MISSING,
            severity=Severity.ERROR,
            column=", ".join(rel.columns),
            rule=rel.label,
            message=f"foreign key {rel.label} is declared in the source but not in the target",
            check=CHECK,
        )
        for rel in relations
        if "source" in rel.declared_in and "target" not in rel.declared_in
    ]


def orphans(
    target: Connector,
    *,
    table: str,
    relation: Relation,
    key_columns: Sequence[str],
    sample_limit: int,
) -> tuple[int, list[Finding]]:
    """Count the child rows whose (non-NULL) reference matches no parent row; sample some of them."""
    q = target.quote
    not_null = " AND ".join(f"c.{q(col)} IS NOT NULL" for col in relation.columns)
    join = " AND ".join(
        f"p.{q(ref)} = c.{q(col)}" for col, ref in zip(relation.columns, relation.ref_columns, strict=True)
    )
    where = (
        f"FROM {target.qualified(table)} c WHERE {not_null} AND NOT EXISTS "
        f"(SELECT 1 FROM {target.qualified(relation.ref_table)} p WHERE {join})"
    )
    count = int(target.execute(f"SELECT COUNT(*) {where}")[0][0])
    if count == 0:
        return 0, []
    shown = list(dict.fromkeys([*key_columns, *relation.columns]))
    rows = target.execute(
        f"SELECT {', '.join(f'c.{q(col)}' for col in shown)} {where} LIMIT {int(sample_limit)}"
    )
    findings = []
    for row in rows:
        values = dict(zip(shown, row, strict=True))
        findings.append(
            Finding(
                table=table,
                category=Category.ORPHAN_ROW,
                severity=Severity.ERROR,
                column=", ".join(relation.columns),
                key={name: json_value(values[name]) for name in key_columns},
                target_value=json_value([values[col] for col in relation.columns]),
                rule=relation.label,
                message=(
                    f"row references {relation.ref_table}({', '.join(relation.ref_columns)}) = "
                    f"{', '.join(str(values[col]) for col in relation.columns)}, which does not exist "
                    f"({count} orphan row(s) under {relation.label}, declared in {', '.join(relation.declared_in)})"
                ),
                check=CHECK,
            )
        )
    return count, findings
