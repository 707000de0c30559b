"""Referential integrity inside the target: orphans by pushdown anti-join, and foreign keys lost.

A declared foreign key does not prove its rows are valid: a load with triggers or checks disabled
(``session_replication_role = replica``, ``FOREIGN_KEY_CHECKS = 0``) keeps the constraint and the
orphans. So every relation known from the source, the target or the spec is counted again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pm_pipeline.core.config.integrity import ForeignKeyDecl
from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import ForeignKey, TableSchema
from pm_pipeline.core.findings import Category, Finding, Severity, json_value
from pm_pipeline.core.names import RunNames, resolve_columns

CHECK = "integrity"


@dataclass(frozen=True)
class Relation:
    """One foreign key in target names, and where it was declared (source, target, spec).

    ``unchecked`` says why its rows cannot be counted (its parent table or a column is not in the
    target), or is None.
    """

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    declared_in: tuple[str, ...]
    unchecked: str | None = None

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
    fk: ForeignKey, *, mapping: TableMapping, names: RunNames
) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """A source foreign key spelled with target names: its own columns through this table's column
    map, the parent table and its columns through the parent's (renames, case, normalised names).
    What the run does not map keeps its source spelling, for :class:`_Target` to look up."""
    columns = names.target_columns(mapping.source, fk.columns) or tuple(
        mapping.renames.get(name, name) for name in fk.columns
    )
    ref_table = names.target_table(fk.ref_table) or fk.ref_table
    ref_columns = names.target_columns(fk.ref_table, fk.ref_columns) or fk.ref_columns
    return columns, ref_table, ref_columns


class _Target:
    """The target's tables and columns, read once per table asked about."""

    def __init__(self, target: Connector, child: TableSchema) -> None:
        self._target = target
        self._tables: list[str] | None = None
        self._columns: dict[str, tuple[str, ...]] = {child.name: child.column_names}

    def table(self, name: str) -> str | None:
        if self._tables is None:
            self._tables = self._target.list_tables()
        found = resolve_columns([name.rsplit(".", 1)[-1]], self._tables) if "." not in name else (name,)
        return None if found is None else found[0]

    def columns(self, table: str) -> tuple[str, ...]:
        if table not in self._columns:
            self._columns[table] = self._target.introspect(table).column_names
        return self._columns[table]


def _in_target(
    columns: Sequence[str], ref_table: str, ref_columns: Sequence[str], *, child: str, target: _Target
) -> tuple[tuple[str, ...], str, tuple[str, ...], str | None]:
    """The relation spelled as the target spells it, and why it cannot be checked (or None)."""
    own = resolve_columns(columns, target.columns(child))
    if own is None:
        return (
            tuple(columns),
            ref_table,
            tuple(ref_columns),
            f"a column of ({', '.join(columns)}) is not in {child}",
        )
    parent = target.table(ref_table)
    if parent is None:
        return own, ref_table, tuple(ref_columns), f"the parent table {ref_table} is not in the target"
    if "." in parent:
        return own, parent, tuple(ref_columns), None  # another schema: taken as spelled
    theirs = resolve_columns(ref_columns, target.columns(parent))
    if theirs is None:
        return (
            own,
            parent,
            tuple(ref_columns),
            f"a column of {parent}({', '.join(ref_columns)}) is not in the target",
        )
    return own, parent, theirs, None


def collect_relations(
    *,
    mapping: TableMapping,
    source_schema: TableSchema,
    target_schema: TableSchema,
    declared: Iterable[ForeignKeyDecl],
    names: RunNames,
    target: Connector | None = None,
) -> list[Relation]:
    """Every relation of this table known to the target, the source or the spec, merged by their
    target spelling. With ``target``, names the run does not map are looked up in the target (case,
    normalised name), and a relation whose parent is not there is kept with its ``unchecked`` reason."""
    found: dict[tuple[tuple[str, ...], str, tuple[str, ...]], Relation] = {}
    lookup = None if target is None else _Target(target, target_schema)

    def add(columns: Sequence[str], ref_table: str, ref_columns: Sequence[str], where: str) -> None:
        unchecked = None
        if lookup is not None and where != "target":
            columns, ref_table, ref_columns, unchecked = _in_target(
                columns, ref_table, ref_columns, child=target_schema.name, target=lookup
            )
        relation = Relation(tuple(columns), ref_table, tuple(ref_columns), (where,), unchecked)
        known = found.get(relation.signature)
        if known is None:
            found[relation.signature] = relation
        elif where not in known.declared_in:
            found[relation.signature] = dataclasses.replace(known, declared_in=(*known.declared_in, where))

    for fk in target_schema.foreign_keys:
        add(fk.columns, fk.ref_table, fk.ref_columns, "target")
    for fk in source_schema.foreign_keys:
        add(*source_fk_in_target_names(fk, mapping=mapping, names=names), "source")
    for decl in declared:
        add(decl.columns, decl.ref_table, decl.ref_columns, "spec")
    return list(found.values())


def orphans(
    target: Connector,
    *,
    table: str,
    relation: Relation,
    key_columns: Sequence[str],
    sample_limit: int,
) -> tuple[int, list[Finding]]:
    """Count the child rows whose (non-NULL) reference matches no parent row; sample some of them.
    A relation that cannot be spelled in the target is one INFO finding saying it was not checked."""
    if relation.unchecked is not None:
        return 0, [
            Finding(
                table=table,
                category=Category.ORPHAN_ROW,
                severity=Severity.INFO,
                column=", ".join(relation.columns),
                rule=relation.label,
                message=f"orphans under {relation.label} were not checked: {relation.unchecked}",
                check=CHECK,
            )
        ]
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
        f"SELECT {', '.join(f'c.{q(col)}' for col in shown)} {where} "
        f"ORDER BY {', '.join(str(n) for n in range(1, len(shown) + 1))} LIMIT {int(sample_limit)}"
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
