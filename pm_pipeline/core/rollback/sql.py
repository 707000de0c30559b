"""The statements of a restore, per engine, and the one transaction that runs them.

PostgreSQL, SQLite and DuckDB run everything (DDL included) in one transaction. On MariaDB/MySQL
DDL commits implicitly, so missing indexes and foreign keys are recreated before the data
transaction (they do not change any row) and AUTO_INCREMENT is reset after it commits.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pm_pipeline.core.errors import IntegrityRefusal
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


class _Dialect:
    def __init__(self, engine: str, quote: Any, qualified: Any, placeholder: str) -> None:
        self.engine = engine
        self.quote = quote
        self.qualified = qualified
        self.placeholder = placeholder

    def prelude(self, *, defer: bool) -> list[str]:
        if self.engine == "postgresql":
            return ["SET CONSTRAINTS ALL DEFERRED"] if defer else []
        if self.engine == "mysql":
            return ["SET FOREIGN_KEY_CHECKS = 0"]
        if self.engine == "sqlite":
            return ["PRAGMA defer_foreign_keys = ON"]
        return []

    def empty(self, table: str) -> str:
        return f"DELETE FROM {self.qualified(table)}"

    def insert(self, entry: TableSnapshot, rows: int) -> str:
        columns = entry.schema.columns
        names = ", ".join(self.quote(c.name) for c in columns)
        if self.engine == "postgresql":
            # Values come back as read (numeric, uuid, json as text): cast each to the column type.
            cells = ", ".join(f"CAST({self.placeholder} AS {c.data_type})" for c in columns)
            identity = any(c.identity and not (c.default or "").startswith("nextval(") for c in columns)
            overriding = " OVERRIDING SYSTEM VALUE" if identity else ""
        else:
            cells = ", ".join([self.placeholder] * len(columns))
            overriding = ""
        values = ", ".join([f"({cells})"] * rows)
        return f"INSERT INTO {self.qualified(entry.name)} ({names}){overriding} VALUES {values}"

    def sequences(self, entry: TableSnapshot, schema_name: str | None) -> list[str]:
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
                out.append(f"ALTER TABLE {self.qualified(entry.name)} AUTO_INCREMENT = {int(seq.next_value)}")
        return out


def dialect_for(connector: Any) -> _Dialect:
    return _Dialect(connector.engine, connector.quote, connector.qualified, connector.placeholder)


def describe_apply(manifest: Manifest, *, order: list[str], defer: bool) -> list[str]:
    """The statements the apply step runs, for plans and dry runs (row values are parameters, not shown)."""
    dialect = _Dialect(
        manifest.engine, _quote_for(manifest.engine), lambda t: _quote_for(manifest.engine)(t), "?"
    )
    lines = ["BEGIN", *dialect.prelude(defer=defer)]
    lines += [dialect.empty(name) for name in reversed(order)]
    for name in order:
        entry = manifest.table(name)
        lines.append(f"{dialect.insert(entry, 1)}  -- x {entry.rows} rows from {entry.file}")
    lines.append("-- recreate indexes and constraints listed in the manifest but missing on the target")
    seq_lines = [line for name in order for line in dialect.sequences(manifest.table(name), None)]
    if manifest.engine == "mysql":
        return [*lines, "COMMIT", *seq_lines]
    return [*lines, *seq_lines, "COMMIT"]


def _quote_for(engine: str) -> Any:
    if engine == "mysql":
        return lambda name: "`" + name.replace("`", "``") + "`"
    return lambda name: '"' + name.replace('"', '""') + '"'


def _chunks(path: Path) -> Iterator[list[tuple[Any, ...]]]:
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


def apply_restore(connector: Any, manifest: Manifest, *, order: list[str], defer: bool) -> list[str]:
    """Replace the rows of every table in ``order`` with the snapshot's, atomically. Returns the SQL run."""
    dialect = dialect_for(connector)
    schema_name = getattr(connector, "schema", None)
    missing = [ddl for name in order for ddl in _missing_ddl(connector, manifest.table(name))]
    ran: list[str] = []
    if connector.engine == "mysql" and missing:
        with connector.transaction() as tx:
            tx.execute("SET FOREIGN_KEY_CHECKS = 0")
            for ddl in missing:
                tx.execute(ddl)
                ran.append(ddl)
        missing = []
    with connector.transaction() as tx:
        pause_point("begin")
        for statement in dialect.prelude(defer=defer):
            tx.execute(statement)
            ran.append(statement)
        for name in reversed(order):
            tx.execute(dialect.empty(name))
            ran.append(dialect.empty(name))
            pause_point(f"empty:{name}")
        for name in order:
            entry = manifest.table(name)
            for rows in _chunks(Path(manifest.directory) / entry.file):
                tx.execute(dialect.insert(entry, len(rows)), [value for row in rows for value in row])
            ran.append(f"{dialect.insert(entry, 1)}  -- x {entry.rows} rows")
            pause_point(f"load:{name}")
        for ddl in missing:
            tx.execute(ddl)
            ran.append(ddl)
        sequence_sql = [s for name in order for s in dialect.sequences(manifest.table(name), schema_name)]
        if connector.engine != "mysql":
            for statement in sequence_sql:
                tx.execute(statement)
                ran.append(statement)
        for name in order:
            count = int(tx.execute(f"SELECT COUNT(*) FROM {connector.qualified(name)}")[0][0])
            if count != manifest.table(name).rows:
                raise IntegrityRefusal(
                    f"restore of {name} loaded {count} rows, the snapshot holds {manifest.table(name).rows}; rolled back"
                )
        pause_point("commit")
    pause_point("committed")
    if connector.engine == "mysql":
        for statement in sequence_sql:
            connector_tx_ddl(connector, statement)
            ran.append(statement)
    return ran


def connector_tx_ddl(connector: Any, statement: str) -> None:
    with connector.transaction() as tx:
        tx.execute(statement)
