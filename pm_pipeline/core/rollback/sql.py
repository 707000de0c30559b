"""The statements of a restore and the one transaction that runs them.

Where DDL is transactional (PostgreSQL, SQLite, DuckDB) everything runs in one transaction: stop
other sessions' writes, export the rows changed since the snapshot one last time, empty children
before parents, load parents before children (from the PostgreSQL in-database copy when it still
verifies, else from the Parquet files), recreate missing indexes and constraints, reset sequences,
check row counts, COMMIT. MariaDB/MySQL, where DDL commits implicitly, restore by shadow tables
and one atomic RENAME TABLE instead (:mod:`pm_pipeline.core.rollback.swap`).

No row another session writes after the last export can be deleted unexported:

* PostgreSQL: ``LOCK TABLE ... IN EXCLUSIVE MODE`` on every restored table opens the transaction
  (it waits for open writers to commit); others still read, which the export does on its own
  connection, and their writes wait until COMMIT.
* SQLite: the transaction is ``BEGIN IMMEDIATE``, whose write lock keeps other connections' writes
  waiting (then failing with SQLITE_BUSY) until COMMIT; reads go on.
* DuckDB: the export runs right before the transaction, since DuckDB opens no reading connection
  to a file next to a writing one. No other process can open the file for writing while this one
  has it open, which it does from the first read to COMMIT but for the instant its reading
  connection is exchanged for the writing one.

A restore names its steps to ``pause`` (``begin``, ``empty:<table>``, ``load:<table>``, ``commit``,
``committed``; the swap adds ``verified``, ``swap`` and ``swapped``) as it reaches them, so that a
test can stop the process at a known point and check what a crash there leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pm_pipeline.core.dialects import Dialect, dialect_for
from pm_pipeline.core.errors import IntegrityRefusal
from pm_pipeline.core.rollback.dbcopy import check_copies, fingerprint_sql, relation
from pm_pipeline.core.rollback.manifest import Manifest, TableSnapshot

INSERT_CHUNK_ROWS = 200
Pause = Callable[[str], None]  # called with the name of each point a restore reaches


def no_pause(point: str) -> None:
    """The ``pause`` of every restore but crash tests: goes straight on."""


@dataclass(frozen=True)
class RestoreOutcome:
    """What a restore ran, where each table's rows came from, and why a faster source was not used."""

    sql: tuple[str, ...]
    sources: dict[str, str]  # table -> "parquet <file>", "in-database copy <schema>.<table>"
    fallbacks: dict[str, str]  # table -> why its in-database copy was not used


@dataclass(frozen=True)
class RestoreStatements:
    """A dialect's restore statements for a manifest's tables, each table named by ``relation``."""

    dialect: Dialect
    relation: Callable[[str], str]  # table -> its quoted (and qualified) name
    placeholder: str | None = None  # the dialect's own unless given (plans show "?")

    def insert(self, entry: TableSnapshot, rows: int, *, into: str | None = None) -> str:
        return self.dialect.insert_rows(
            into or self.relation(entry.name), entry.schema.columns, rows, placeholder=self.placeholder
        )

    def insert_select(self, entry: TableSnapshot, source: str) -> str:
        return self.dialect.insert_select(self.relation(entry.name), entry.schema.columns, source)

    def sequences(
        self, entry: TableSnapshot, schema_name: str | None, *, table: str | None = None
    ) -> list[str]:
        out: list[str] = []
        for seq in entry.schema.sequences:
            if seq.next_value is None:
                continue
            statement = self.dialect.reset_sequence(
                sequence=seq.name,
                schema=schema_name,
                table=table or self.relation(entry.name),
                next_value=int(seq.next_value),
            )
            if statement is not None:
                out.append(statement)
        return out


def connector_statements(connector: Any) -> RestoreStatements:
    """The restore statements of ``connector``'s engine, naming tables as the connector does."""
    return RestoreStatements(connector.dialect, connector.qualified)


def describe_apply(manifest: Manifest, *, order: list[str], defer: bool) -> list[str]:
    """The statements the apply step runs, for plans and dry runs (row values are parameters, not shown)."""
    dialect = dialect_for(manifest.engine)
    quote = dialect.quote
    statements = RestoreStatements(dialect, quote, "?")
    export = "-- export the rows changed since the snapshot, the last time before writing"
    prelude = dialect.restore_prelude(defer=defer)
    if dialect.reads_beside_a_writer:
        lines = ["BEGIN", *prelude, *dialect.lock_for_restore([quote(name) for name in order]), export]
    else:
        lines = [export, "BEGIN", *prelude]
    copy = manifest.db_copy
    if copy is not None:
        lines.append("-- a copy that is missing or whose fingerprint differs is loaded from its Parquet file")
        for name in order:
            where = f"{quote(copy.schema)}.{quote(name)}"
            lines += [dialect.share_lock(where), fingerprint_sql(dialect, where)]
    lines += [dialect.empty_table(quote(name)) for name in reversed(order)]
    for name in order:
        entry = manifest.table(name)
        if copy is not None:
            lines.append(statements.insert_select(entry, f"{quote(copy.schema)}.{quote(name)}"))
        else:
            lines.append(f"{statements.insert(entry, 1)}  -- x {entry.rows} rows from {entry.file}")
    lines.append("-- recreate indexes and constraints listed in the manifest but missing on the target")
    lines += [line for name in order for line in statements.sequences(manifest.table(name), None)]
    lines.append("-- check every table's row count against the manifest")
    return [*lines, "COMMIT"]


def chunks(path: Path) -> Iterator[list[tuple[Any, ...]]]:
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=INSERT_CHUNK_ROWS):
        columns = [column.to_pylist() for column in batch.columns]
        yield list(zip(*columns, strict=True))


def _missing_ddl(connector: Any, entry: TableSnapshot) -> list[str]:
    live = connector.introspect(entry.name)
    present = {index.name for index in live.indexes} | {fk.name for fk in live.foreign_keys}
    present |= {u.name for u in live.unique_constraints} | {c.name for c in live.check_constraints}
    statements = [ddl for name, ddl in entry.index_ddl.items() if name not in present]
    for name, ddl in entry.constraint_ddl.items():
        if name in present or (" PRIMARY KEY " in f" {ddl} " and live.primary_key):
            continue
        statements.append(ddl)
    return statements


def _usable_copies(
    tx: Any, connector: Any, manifest: Manifest, order: list[str]
) -> tuple[set[str], dict[str, str]]:
    if manifest.db_copy is None:
        return set(), {}
    entries = [manifest.table(name) for name in order]
    problems = check_copies(connector, manifest.db_copy, entries, lock=tx)
    return {name for name in order if name not in problems}, problems


def apply_restore(
    connector: Any,
    manifest: Manifest,
    *,
    order: list[str],
    defer: bool,
    before_write: Callable[[], None] | None = None,
    pause: Pause = no_pause,
) -> RestoreOutcome:
    """Replace the rows of every table in ``order`` with the snapshot's in one transaction (not MariaDB).

    ``before_write`` (the last export of changed rows) runs inside the transaction once other
    sessions can no longer write to the restored tables, before the first write (right before the
    transaction where the engine cannot read beside a writer; see the module's docstring).
    """
    dialect = connector.dialect
    statements = connector_statements(connector)
    schema_name = getattr(connector, "schema", None)
    missing = [ddl for name in order for ddl in _missing_ddl(connector, manifest.table(name))]
    ran: list[str] = []
    sources: dict[str, str] = {}
    inside = dialect.reads_beside_a_writer
    if before_write is not None and not inside:
        before_write()
    with connector.transaction() as tx:
        pause("begin")
        opening = dialect.restore_prelude(defer=defer)
        opening += dialect.lock_for_restore([connector.qualified(name) for name in order])
        for statement in opening:
            tx.execute(statement)
            ran.append(statement)
        if before_write is not None and inside:
            before_write()
        copies, fallbacks = _usable_copies(tx, connector, manifest, order)
        for name in reversed(order):
            tx.execute(dialect.empty_table(connector.qualified(name)))
            ran.append(dialect.empty_table(connector.qualified(name)))
            pause(f"empty:{name}")
        for name in order:
            entry = manifest.table(name)
            if name in copies and manifest.db_copy is not None:
                source = relation(connector, manifest.db_copy.schema, name)
                tx.execute(statements.insert_select(entry, source))
                ran.append(statements.insert_select(entry, source))
                sources[name] = f"in-database copy {manifest.db_copy.schema}.{name}"
            else:
                for rows in chunks(Path(manifest.directory) / entry.file):
                    tx.execute(statements.insert(entry, len(rows)), [value for row in rows for value in row])
                ran.append(f"{statements.insert(entry, 1)}  -- x {entry.rows} rows")
                sources[name] = f"parquet {entry.file}"
            pause(f"load:{name}")
        for ddl in missing:
            tx.execute(ddl)
            ran.append(ddl)
        for statement in [
            s for name in order for s in statements.sequences(manifest.table(name), schema_name)
        ]:
            tx.execute(statement)
            ran.append(statement)
        _check_counts(tx, connector, manifest, order)
        pause("commit")
    pause("committed")
    return RestoreOutcome(tuple(ran), sources, fallbacks)


def _check_counts(tx: Any, connector: Any, manifest: Manifest, order: list[str]) -> None:
    for name in order:
        count = int(tx.execute(f"SELECT COUNT(*) FROM {connector.qualified(name)}")[0][0])
        if count != manifest.table(name).rows:
            raise IntegrityRefusal(
                f"restore of {name} loaded {count} rows, the snapshot holds {manifest.table(name).rows}; rolled back"
            )
