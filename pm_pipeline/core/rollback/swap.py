"""MariaDB/MySQL restore: shadow tables, verified, then swapped in with one atomic RENAME TABLE.

DDL commits implicitly on MariaDB, so rows, indexes and constraints cannot be replaced in one
transaction. Instead each table is rebuilt from the snapshot's own ``CREATE TABLE`` (indexes,
foreign keys and AUTO_INCREMENT included) in a shadow database ``<db>__pm_shadow`` and loaded from
the snapshot files; every shadow's canonical checksum is verified against the manifest; then one
``RENAME TABLE`` moves every live table to ``<db>__pm_old`` and every shadow into its place.
MariaDB renames atomically, a crash included, so the target is either untouched or restored. The
helper databases are dropped at the end, or by the next run when the process died.

Why shadow *databases* rather than ``<table>__pm_shadow`` next to the live tables: InnoDB
foreign-key names are unique per database, so a shadow beside its table cannot carry its foreign
keys under their own names; and a foreign key follows a renamed parent, so before the swap the
shadow children must reference the shadow parents. In a database of their own the shadows keep
every name, an unqualified ``REFERENCES`` in the snapshot's DDL names the shadow parent, and
RENAME moves each constraint with its table: afterwards the restored children reference the
restored parents, and the replaced tables reference each other in ``<db>__pm_old``, which is
dropped. A foreign key from a table outside the snapshot onto a restored table would follow the
replaced table: such restores are refused before anything is written, as on every engine
(``references.refuse_outside_references``), and so are tables with triggers (which RENAME cannot move
between databases).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pm_pipeline.core.dialects import Dialect, dialect_for
from pm_pipeline.core.errors import IntegrityRefusal
from pm_pipeline.core.rollback.checksum import relation_checksum
from pm_pipeline.core.rollback.manifest import Manifest, TableSnapshot
from pm_pipeline.core.rollback.references import refuse_outside_references
from pm_pipeline.core.rollback.sql import (
    Pause,
    RestoreOutcome,
    RestoreStatements,
    chunks,
    connector_statements,
    no_pause,
)

SHADOW_SUFFIX = "__pm_shadow"
OLD_SUFFIX = "__pm_old"
_MAX_NAME = 64


def helper_databases(database: str) -> tuple[str, str]:
    """The shadow and old databases of ``database``; hashed when the readable names would be too long."""
    shadow, old = f"{database}{SHADOW_SUFFIX}", f"{database}{OLD_SUFFIX}"
    if max(len(shadow), len(old)) <= _MAX_NAME:
        return shadow, old
    digest = hashlib.sha256(database.encode()).hexdigest()[:16]
    return f"pm_shadow_{digest}", f"pm_old_{digest}"


def _shadow_ddl(
    dialect: Dialect, entry: TableSnapshot, shadow: str, *, database: str, restored: list[str]
) -> str:
    """The snapshot's CREATE TABLE, creating the shadow; parents that are not restored stay the live ones."""
    quote = dialect.quote
    prefix = f"CREATE TABLE {quote(entry.name)} "
    if not entry.ddl.startswith(prefix):
        raise IntegrityRefusal(
            f"rollback refused: the snapshot's DDL of {entry.name} does not start with {prefix.strip()!r}; "
            "take a new snapshot of the table"
        )
    # Unqualified, a parent that is not restored would name a table of the shadow database that is
    # never created.
    body = dialect.qualify_references(entry.ddl[len(prefix) :], database=database, restored=restored)
    return f"CREATE TABLE {quote(shadow)}.{quote(entry.name)} " + body


def preflight(connector: Any, manifest: Manifest, order: list[str]) -> None:
    """Refuse, before any write, what a swap cannot restore faithfully."""
    database = connector.schema
    query, parameters = connector.dialect.trigger_query(database, order)
    triggers = connector.execute(query, parameters)
    if triggers:
        listed = ", ".join(f"{table}.{name}" for table, name in triggers)
        raise IntegrityRefusal(
            f"rollback refused: trigger(s) {listed} would be lost: MariaDB cannot move a table with triggers "
            "to another database; drop them before the rollback and recreate them after"
        )
    refuse_outside_references(connector, order)
    for name in order:
        _shadow_ddl(connector.dialect, manifest.table(name), "", database=database, restored=order)


def _drop_helpers(tx: Any, dialect: Dialect, shadow: str, old: str) -> list[str]:
    statements = [dialect.drop_database(old), dialect.drop_database(shadow)]
    for statement in statements:
        tx.execute(statement)
    return statements


def _build_shadows(
    connector: Any, manifest: Manifest, order: list[str], shadow: str, old: str, pause: Pause
) -> list[str]:
    """Leftovers of an earlier run dropped, every shadow created and loaded; returns the SQL run."""
    statements = connector_statements(connector)
    quote = connector.quote
    ran = [connector.dialect.foreign_key_checks_off()]
    with connector.transaction() as tx:
        tx.execute(ran[0])  # the shadows are loaded in any order; their checksums are verified after
        ran += _drop_helpers(tx, connector.dialect, shadow, old)
        pause("begin")
        for statement in [connector.dialect.create_database(shadow), connector.dialect.create_database(old)]:
            tx.execute(statement)
            ran.append(statement)
        for name in order:
            statement = _shadow_ddl(
                connector.dialect, manifest.table(name), shadow, database=connector.schema, restored=order
            )
            tx.execute(statement)
            ran.append(statement)
        for name in order:
            entry = manifest.table(name)
            into = f"{quote(shadow)}.{quote(name)}"
            for rows in chunks(Path(manifest.directory) / entry.file):
                tx.execute(statements.insert(entry, len(rows), into=into), [v for row in rows for v in row])
            ran.append(f"{statements.insert(entry, 1, into=into)}  -- x {entry.rows} rows from {entry.file}")
            pause(f"load:{name}")
        tx.execute("COMMIT")
        for name in order:
            for statement in statements.sequences(
                manifest.table(name), None, table=f"{quote(shadow)}.{quote(name)}"
            ):
                tx.execute(statement)
                ran.append(statement)
    return ran


def _verify_shadows(connector: Any, manifest: Manifest, order: list[str], shadow: str) -> None:
    for name in order:
        entry = manifest.table(name)
        digest = relation_checksum(
            connector, f"{connector.quote(shadow)}.{connector.quote(name)}", entry.schema
        )
        if (digest.rows, digest.checksum) != (entry.rows, entry.checksum):
            raise IntegrityRefusal(
                f"shadow table {shadow}.{name} holds {digest.rows} rows / {digest.checksum[:12]}, the snapshot "
                f"{entry.rows} rows / {entry.checksum[:12]}; nothing was swapped (the next run drops the shadows)"
            )


def _rename_statement(
    dialect: Dialect, database: str, shadow: str, old: str, live: list[str], order: list[str]
) -> str:
    quote = dialect.quote
    moves = [
        (f"{quote(database)}.{quote(name)}", f"{quote(old)}.{quote(name)}") for name in order if name in live
    ]
    moves += [(f"{quote(shadow)}.{quote(name)}", f"{quote(database)}.{quote(name)}") for name in order]
    return dialect.swap_statement(moves)


def restore_by_swap(
    connector: Any,
    manifest: Manifest,
    *,
    order: list[str],
    before_write: Callable[[], None] | None = None,
    pause: Pause = no_pause,
) -> RestoreOutcome:
    """Build and verify the shadows, run ``before_write`` (the last export), then swap and clean up."""
    database = connector.schema
    shadow, old = helper_databases(database)
    preflight(connector, manifest, order)
    ran = _build_shadows(connector, manifest, order, shadow, old, pause)
    _verify_shadows(connector, manifest, order, shadow)
    ran.append(f"-- {len(order)} shadow table(s) verified against the manifest's checksums")
    pause("verified")
    if before_write is not None:
        before_write()
    query, parameters = connector.dialect.existing_tables_query(database, order)
    live = [str(row[0]) for row in connector.execute(query, parameters)]
    rename = _rename_statement(connector.dialect, database, shadow, old, live, order)
    with connector.transaction() as tx:
        tx.execute(connector.dialect.foreign_key_checks_off())
        pause("swap")
        tx.execute(rename)
        ran.append(rename)
        pause("swapped")
        ran += _drop_helpers(tx, connector.dialect, shadow, old)
    pause("committed")
    sources = {name: f"parquet {manifest.table(name).file} via {shadow}.{name}" for name in order}
    return RestoreOutcome(tuple(ran), sources, {})


def describe_swap(manifest: Manifest, *, order: list[str], database: str) -> list[str]:
    """The statements of a swap restore, for plans and dry runs (row values are parameters, not shown)."""
    dialect = dialect_for(manifest.engine)
    quote = dialect.quote
    shadow, old = helper_databases(database)
    statements = RestoreStatements(dialect, quote, "?")
    lines = [
        dialect.foreign_key_checks_off(),
        dialect.drop_database(old),
        dialect.drop_database(shadow),
        dialect.create_database(shadow),
        dialect.create_database(old),
    ]
    lines += [
        _shadow_ddl(dialect, manifest.table(name), shadow, database=database, restored=order)
        for name in order
    ]
    for name in order:
        entry = manifest.table(name)
        into = f"{quote(shadow)}.{quote(name)}"
        lines.append(f"{statements.insert(entry, 1, into=into)}  -- x {entry.rows} rows from {entry.file}")
    lines.append("COMMIT")
    for name in order:
        lines += statements.sequences(manifest.table(name), None, table=f"{quote(shadow)}.{quote(name)}")
    lines.append(
        "-- verify every shadow table's canonical checksum against the manifest; export changed rows"
    )
    lines.append(_rename_statement(dialect, database, shadow, old, order, order))
    lines += [dialect.drop_database(old), dialect.drop_database(shadow)]
    return lines
