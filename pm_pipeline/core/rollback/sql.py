"""The statements of a restore, per engine, and the one transaction that runs them.

PostgreSQL, SQLite and DuckDB run everything (DDL included) in one transaction: stop other
sessions' writes, export the rows changed since the snapshot one last time, empty children
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
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pm_pipeline.core.errors import IntegrityRefusal
from pm_pipeline.core.rollback.dbcopy import check_copies, fingerprint_sql, relation
from pm_pipeline.core.rollback.snapshot import Manifest, TableSnapshot

INSERT_CHUNK_ROWS = 200
PAUSE_ENV = "PM_ROLLBACK_PAUSE_AT"  # test hook: block at this named point of the restore
PAUSE_FILE_ENV = "PM_ROLLBACK_PAUSE_FILE"  # written when the pause point is reached


def pause_point(name: str) -> None:
    """Let a crash test kill the process at a known point; does nothing unless the env var names ``name``."""
    if os.environ.get(PAUSE_ENV) != name:
        return
    marker = os.environ.get(PAUSE_FILE_ENV)
    if marker:
        Path(marker).write_text(name)
    time.sleep(float(os.environ.get("PM_ROLLBACK_PAUSE_SECONDS", "60")))


@dataclass(frozen=True)
class RestoreOutcome:
    """What a restore ran, where each table's rows came from, and why a faster source was not used."""

    sql: tuple[str, ...]
    sources: dict[str, str]  # table -> "parquet <file>", "in-database copy <schema>.<table>"
    fallbacks: dict[str, str]  # table -> why its in-database copy was not used


class _Dialect:
    def __init__(self, engine: str, quote: Any, qualified: Any, placeholder: str) -> None:
        self.engine = engine
        self.quote = quote
        self.qualified = qualified
        self.placeholder = placeholder

    def prelude(self, *, defer: bool) -> list[str]:
        if self.engine == "postgresql":
            return ["SET CONSTRAINTS ALL DEFERRED"] if defer else []
        if self.engine == "sqlite":
            return ["PRAGMA defer_foreign_keys = ON"]
        return []

    def lock(self, tables: list[str]) -> list[str]:
        """Statements that stop other sessions' writes to ``tables`` until the transaction ends."""
        if self.engine == "postgresql" and tables:
            return [f"LOCK TABLE {', '.join(self.qualified(t) for t in tables)} IN EXCLUSIVE MODE"]
        return []

    def empty(self, table: str) -> str:
        return f"DELETE FROM {self.qualified(table)}"

    def _overriding(self, entry: TableSnapshot) -> str:
        if self.engine != "postgresql":
            return ""
        columns = entry.schema.columns
        identity = any(c.identity and not (c.default or "").startswith("nextval(") for c in columns)
        return " OVERRIDING SYSTEM VALUE" if identity else ""

    def insert(self, entry: TableSnapshot, rows: int, *, into: str | None = None) -> str:
        columns = entry.schema.columns
        names = ", ".join(self.quote(c.name) for c in columns)
        if self.engine == "postgresql":
            # Values come back as read (numeric, uuid, json as text): cast each to the column type.
            cells = ", ".join(f"CAST({self.placeholder} AS {c.data_type})" for c in columns)
        else:
            cells = ", ".join([self.placeholder] * len(columns))
        values = ", ".join([f"({cells})"] * rows)
        return f"INSERT INTO {into or self.qualified(entry.name)} ({names}){self._overriding(entry)} VALUES {values}"

    def insert_select(self, entry: TableSnapshot, source: str) -> str:
        names = ", ".join(self.quote(c.name) for c in entry.schema.columns)
        return (
            f"INSERT INTO {self.qualified(entry.name)} ({names}){self._overriding(entry)} "
            f"SELECT {names} FROM {source}"
        )

    def sequences(
        self, entry: TableSnapshot, schema_name: str | None, *, table: str | None = None
    ) -> list[str]:
        out: list[str] = []
        for seq in entry.schema.sequences:
            if seq.next_value is None:
                continue
            if self.engine == "postgresql":
                name = (
                    f"{self.quote(schema_name)}.{self.quote(seq.name)}"
                    if schema_name
                    else self.quote(seq.name)
                )
                out.append(f"ALTER SEQUENCE {name} RESTART WITH {int(seq.next_value)}")
            elif self.engine == "mysql":
                out.append(
                    f"ALTER TABLE {table or self.qualified(entry.name)} AUTO_INCREMENT = {int(seq.next_value)}"
                )
        return out


def dialect_for(connector: Any) -> _Dialect:
    return _Dialect(connector.engine, connector.quote, connector.qualified, connector.placeholder)


def quote_for(engine: str) -> Any:
    if engine == "mysql":
        return lambda name: "`" + name.replace("`", "``") + "`"
    return lambda name: '"' + name.replace('"', '""') + '"'


def describe_apply(manifest: Manifest, *, order: list[str], defer: bool) -> list[str]:
    """The statements the apply step runs, for plans and dry runs (row values are parameters, not shown)."""
    quote = quote_for(manifest.engine)
    dialect = _Dialect(manifest.engine, quote, quote, "?")
    export = "-- export the rows changed since the snapshot, the last time before writing"
    if _export_in_transaction(manifest.engine):
        lines = ["BEGIN", *dialect.prelude(defer=defer), *dialect.lock(order), export]
    else:
        lines = [export, "BEGIN", *dialect.prelude(defer=defer)]
    copy = manifest.db_copy
    if copy is not None:
        lines.append("-- a copy that is missing or whose fingerprint differs is loaded from its Parquet file")
        for name in order:
            where = f"{quote(copy.schema)}.{quote(name)}"
            lines += [f"LOCK TABLE {where} IN SHARE MODE", fingerprint_sql(where)]
    lines += [dialect.empty(name) for name in reversed(order)]
    for name in order:
        entry = manifest.table(name)
        if copy is not None:
            lines.append(dialect.insert_select(entry, f"{quote(copy.schema)}.{quote(name)}"))
        else:
            lines.append(f"{dialect.insert(entry, 1)}  -- x {entry.rows} rows from {entry.file}")
    lines.append("-- recreate indexes and constraints listed in the manifest but missing on the target")
    lines += [line for name in order for line in dialect.sequences(manifest.table(name), None)]
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


def _export_in_transaction(engine: str) -> bool:
    return engine != "duckdb"


def apply_restore(
    connector: Any,
    manifest: Manifest,
    *,
    order: list[str],
    defer: bool,
    before_write: Callable[[], None] | None = None,
) -> RestoreOutcome:
    """Replace the rows of every table in ``order`` with the snapshot's in one transaction (not MariaDB).

    ``before_write`` (the last export of changed rows) runs inside the transaction once other
    sessions can no longer write to the restored tables, before the first write (on DuckDB right
    before the transaction; see the module's docstring).
    """
    dialect = dialect_for(connector)
    schema_name = getattr(connector, "schema", None)
    missing = [ddl for name in order for ddl in _missing_ddl(connector, manifest.table(name))]
    ran: list[str] = []
    sources: dict[str, str] = {}
    inside = _export_in_transaction(connector.engine)
    if before_write is not None and not inside:
        before_write()
    with connector.transaction() as tx:
        pause_point("begin")
        for statement in [*dialect.prelude(defer=defer), *dialect.lock(order)]:
            tx.execute(statement)
            ran.append(statement)
        if before_write is not None and inside:
            before_write()
        copies, fallbacks = _usable_copies(tx, connector, manifest, order)
        for name in reversed(order):
            tx.execute(dialect.empty(name))
            ran.append(dialect.empty(name))
            pause_point(f"empty:{name}")
        for name in order:
            entry = manifest.table(name)
            if name in copies and manifest.db_copy is not None:
                source = relation(connector, manifest.db_copy.schema, name)
                tx.execute(dialect.insert_select(entry, source))
                ran.append(dialect.insert_select(entry, source))
                sources[name] = f"in-database copy {manifest.db_copy.schema}.{name}"
            else:
                for rows in chunks(Path(manifest.directory) / entry.file):
                    tx.execute(dialect.insert(entry, len(rows)), [value for row in rows for value in row])
                ran.append(f"{dialect.insert(entry, 1)}  -- x {entry.rows} rows")
                sources[name] = f"parquet {entry.file}"
            pause_point(f"load:{name}")
        for ddl in missing:
            tx.execute(ddl)
            ran.append(ddl)
        for statement in [s for name in order for s in dialect.sequences(manifest.table(name), schema_name)]:
            tx.execute(statement)
            ran.append(statement)
        _check_counts(tx, connector, manifest, order)
        pause_point("commit")
    pause_point("committed")
    return RestoreOutcome(tuple(ran), sources, fallbacks)


def _check_counts(tx: Any, connector: Any, manifest: Manifest, order: list[str]) -> None:
    for name in order:
        count = int(tx.execute(f"SELECT COUNT(*) FROM {connector.qualified(name)}")[0][0])
        if count != manifest.table(name).rows:
            raise IntegrityRefusal(
                f"restore of {name} loaded {count} rows, the snapshot holds {manifest.table(name).rows}; rolled back"
            )
