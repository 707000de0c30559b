"""What a snapshot's manifest records: each table's file, counts, checksum, schema and DDL, and the
PostgreSQL in-database copies taken with it (read and written by :mod:`.snapshot`, used by
:mod:`.dbcopy` and the restore)."""

from __future__ import annotations

from dataclasses import dataclass

from pm_pipeline.core.connectors.schema import TableSchema


@dataclass(frozen=True)
class CopyRecord:
    """A copy as verified at snapshot time: its canonical checksum (equal to the Parquet file's) and
    its fingerprint, which the database recomputes cheaply to tell whether the copy changed since."""

    rows: int
    checksum: str
    fingerprint: str


@dataclass(frozen=True)
class DbCopy:
    schema: str
    tables: dict[str, CopyRecord]


@dataclass(frozen=True)
class TableSnapshot:
    name: str
    rows: int
    checksum: str
    file: str
    file_sha256: str
    ddl: str
    schema: TableSchema
    index_ddl: dict[str, str]
    constraint_ddl: dict[str, str]
    deferrable_fks: tuple[str, ...]


@dataclass(frozen=True)
class Manifest:
    snapshot_id: str
    directory: str
    engine: str
    target: str  # masked URL
    created_at: str
    tables: tuple[TableSnapshot, ...]
    verified: bool
    db_copy: DbCopy | None = None  # PostgreSQL in-database copy of every table

    def table(self, name: str) -> TableSnapshot:
        for entry in self.tables:
            if entry.name == name:
                return entry
        raise KeyError(name)
