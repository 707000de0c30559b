"""DDL captured at snapshot time: table DDL, index DDL, constraint DDL.

Restores recreate what the manifest lists and the live table lacks (a dropped index, a dropped
foreign key), using the statements the engine itself reported when the snapshot was taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pm_pipeline.core.connectors.schema import TableSchema


@dataclass(frozen=True)
class CapturedDdl:
    table: str
    indexes: dict[str, str]  # index name -> CREATE INDEX statement
    constraints: dict[str, str]  # constraint name -> ALTER TABLE ... ADD CONSTRAINT statement
    deferrable_fks: tuple[str, ...] = ()


def capture(connector: Any, schema: TableSchema) -> CapturedDdl:
    """The table's DDL as the engine reports it where it does, else as its schema describes it."""
    relation = connector.qualified(schema.name)
    table = _table(connector, schema, relation)
    indexes = _indexes(connector, schema, relation)
    constraints, deferrable = _constraints(connector, schema, relation)
    return CapturedDdl(table=table, indexes=indexes, constraints=constraints, deferrable_fks=deferrable)


def _table(connector: Any, schema: TableSchema, relation: str) -> str:
    query = connector.dialect.table_ddl_query(relation)
    rows = connector.execute(query) if query is not None else []
    return str(rows[0][1]) if rows else _generic_table(connector, schema)


def _generic_table(connector: Any, schema: TableSchema) -> str:
    lines = [
        f"  {connector.quote(c.name)} {c.data_type}{'' if c.nullable else ' NOT NULL'}"
        for c in schema.columns
    ]
    if schema.primary_key:
        lines.append(f"  PRIMARY KEY ({', '.join(connector.quote(c) for c in schema.primary_key)})")
    return f"CREATE TABLE {connector.qualified(schema.name)} (\n" + ",\n".join(lines) + "\n)"


def _indexes(connector: Any, schema: TableSchema, relation: str) -> dict[str, str]:
    query = connector.dialect.index_ddl_query
    if query is not None:
        return {str(name): str(definition) for name, definition in connector.execute(query, (relation,))}
    indexes = {
        index.name: f"CREATE {'UNIQUE ' if index.unique else ''}INDEX {connector.quote(index.name)} "
        f"ON {relation} ({', '.join(connector.quote(c) for c in index.columns)})"
        for index in schema.indexes
    }
    if connector.dialect.names_foreign_key_index_after_constraint:
        # Recreating the foreign key recreates its index.
        fk_names = {fk.name for fk in schema.foreign_keys}
        indexes = {name: ddl for name, ddl in indexes.items() if name not in fk_names}
    return indexes


def _constraints(
    connector: Any, schema: TableSchema, relation: str
) -> tuple[dict[str, str], tuple[str, ...]]:
    """Each constraint's ADD CONSTRAINT statement, and the foreign keys declared DEFERRABLE."""
    dialect = connector.dialect
    query = dialect.constraint_ddl_query
    if query is None:
        if not dialect.can_add_foreign_key:
            return {}, ()
        return {
            str(fk.name): dialect.add_foreign_key(
                relation, str(fk.name), fk.columns, fk.ref_table, fk.ref_columns
            )
            for fk in schema.foreign_keys
            if fk.name
        }, ()
    constraints: dict[str, str] = {}
    deferrable: list[str] = []
    for name, definition, kind, is_deferrable in connector.execute(query, (relation,)):
        constraints[str(name)] = (
            f"ALTER TABLE {relation} ADD CONSTRAINT {connector.quote(str(name))} {definition}"
        )
        if kind == "f" and is_deferrable:
            deferrable.append(str(name))
    return constraints, tuple(deferrable)
