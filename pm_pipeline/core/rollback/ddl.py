"""Engine-specific DDL captured at snapshot time: table DDL, index DDL, constraint DDL.

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
    if connector.engine == "postgresql":
        return _postgres(connector, schema)
    if connector.engine == "mysql":
        return _mysql(connector, schema)
    return CapturedDdl(
        table=_generic_table(connector, schema), indexes=_generic_indexes(connector, schema), constraints={}
    )


def _generic_table(connector: Any, schema: TableSchema) -> str:
    lines = [
        f"  {connector.quote(c.name)} {c.data_type}{'' if c.nullable else ' NOT NULL'}"
        for c in schema.columns
    ]
    if schema.primary_key:
        lines.append(f"  PRIMARY KEY ({', '.join(connector.quote(c) for c in schema.primary_key)})")
    return f"CREATE TABLE {connector.qualified(schema.name)} (\n" + ",\n".join(lines) + "\n)"


def _generic_indexes(connector: Any, schema: TableSchema) -> dict[str, str]:
    return {
        index.name: f"CREATE {'UNIQUE ' if index.unique else ''}INDEX {connector.quote(index.name)} "
        f"ON {connector.qualified(schema.name)} ({', '.join(connector.quote(c) for c in index.columns)})"
        for index in schema.indexes
    }


def _postgres(connector: Any, schema: TableSchema) -> CapturedDdl:
    relation = connector.qualified(schema.name)
    # Indexes that back a constraint come back with the constraint, not on their own.
    indexes = {
        str(name): str(definition)
        for name, definition in connector.execute(
            "SELECT ic.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class ic ON ic.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            (relation,),
        )
    }
    constraints: dict[str, str] = {}
    deferrable: list[str] = []
    for name, definition, kind, is_deferrable in connector.execute(
        "SELECT conname, pg_get_constraintdef(oid), contype, condeferrable FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f', 'c') ORDER BY conname",
        (relation,),
    ):
        constraints[str(name)] = (
            f"ALTER TABLE {relation} ADD CONSTRAINT {connector.quote(str(name))} {definition}"
        )
        if kind == "f" and is_deferrable:
            deferrable.append(str(name))
    return CapturedDdl(
        table=_generic_table(connector, schema),
        indexes=indexes,
        constraints=constraints,
        deferrable_fks=tuple(deferrable),
    )


def _mysql(connector: Any, schema: TableSchema) -> CapturedDdl:
    rows = connector.execute(f"SHOW CREATE TABLE {connector.qualified(schema.name)}")
    table = str(rows[0][1]) if rows else _generic_table(connector, schema)
    # A MySQL foreign key needs an index on its columns; MariaDB names it after the constraint.
    fk_names = {fk.name for fk in schema.foreign_keys}
    indexes = {name: ddl for name, ddl in _generic_indexes(connector, schema).items() if name not in fk_names}
    constraints = {
        str(
            fk.name
        ): f"ALTER TABLE {connector.qualified(schema.name)} ADD CONSTRAINT {connector.quote(str(fk.name))} "
        f"FOREIGN KEY ({', '.join(connector.quote(c) for c in fk.columns)}) "
        f"REFERENCES {connector.quote(fk.ref_table)} ({', '.join(connector.quote(c) for c in fk.ref_columns)})"
        for fk in schema.foreign_keys
        if fk.name
    }
    return CapturedDdl(table=table, indexes=indexes, constraints=constraints)
