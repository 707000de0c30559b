"""PostgreSQL in-database snapshots: every snapshotted table copied into a schema of its own.

The copies are made in one REPEATABLE READ transaction, so all tables are copied as of the same
moment, and the snapshot's Parquet files are then written from the copies. Each copy is then
re-read like a Parquet file: its canonical checksum must equal its file's. The manifest records it
with a fingerprint the database computes itself (see :func:`fingerprint_sql`), which a restore
recomputes in a fraction of a canonical re-read. A restore loads a table from its copy
with one ``INSERT ... SELECT`` inside the restore transaction, but only when the copy still exists
and its fingerprint, recomputed under a SHARE lock in that transaction (so the copy cannot change
before it is used), still matches; otherwise that table is restored from its Parquet file. All of
this happens before the restore's first write, and the restored tables' canonical checksums are
verified against the manifest afterwards whichever source was used.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.dialects import Dialect
from pm_pipeline.core.errors import IntegrityRefusal
from pm_pipeline.core.rollback.checksum import relation_checksum
from pm_pipeline.core.rollback.manifest import CopyRecord, DbCopy, TableSnapshot

SCHEMA_PREFIX = "pm_snapshot_"


def schema_for(snapshot_id: str) -> str:
    return SCHEMA_PREFIX + snapshot_id.lower()


def relation(connector: Any, schema: str, table: str) -> str:
    return f"{connector.quote(schema)}.{connector.quote(table)}"


def create_copies(connector: Any, schema: str, tables: Iterable[TableSchema]) -> list[str]:
    """Copy ``tables`` into the new schema ``schema`` in one transaction; returns the statements run."""
    statements = [connector.dialect.create_schema(schema)]
    for table in tables:
        columns = ", ".join(connector.quote(column.name) for column in table.columns)
        statements.append(
            f"CREATE TABLE {relation(connector, schema, table.name)} AS "
            f"SELECT {columns} FROM {connector.qualified(table.name)}"
        )
    with connector.transaction() as tx:
        # One snapshot of the database for every table: the copies agree with each other.
        tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        for statement in statements:
            tx.execute(statement)
    return statements


def drop_copies(connector: Any, schema: str) -> None:
    with connector.transaction() as tx:
        tx.execute(connector.dialect.drop_schema(schema))


FINGERPRINT_SEPARATOR = ":"


def fingerprint_sql(dialect: Dialect, relation: str) -> str:
    """Row count, and the sums of the two 64-bit halves of the MD5 of each row's text (``<sum>:<sum>``),
    as ``dialect`` computes them (:meth:`~pm_pipeline.core.dialects.base.Dialect.copy_fingerprint`)."""
    return dialect.copy_fingerprint(relation, separator=FINGERPRINT_SEPARATOR)


def _fingerprint(runner: Any, dialect: Dialect, relation: str) -> tuple[int, str]:
    row = runner.execute(fingerprint_sql(dialect, relation))[0]
    return int(row[0]), str(row[1])


def verify_new_copies(connector: Any, schema: str, entries: Iterable[TableSnapshot]) -> DbCopy:
    """Re-read every fresh copy: its canonical checksum must be its Parquet file's; record its fingerprint."""
    records: dict[str, CopyRecord] = {}
    for entry in entries:
        where = relation(connector, schema, entry.name)
        digest = relation_checksum(connector, where, entry.schema)
        if (digest.rows, digest.checksum) != (entry.rows, entry.checksum):
            raise IntegrityRefusal(
                f"in-database copy {schema}.{entry.name} re-read as {digest.rows} rows / {digest.checksum[:12]}, "
                f"its Parquet file holds {entry.rows} rows / {entry.checksum[:12]}"
            )
        rows, fingerprint = _fingerprint(connector, connector.dialect, where)
        records[entry.name] = CopyRecord(rows, digest.checksum, fingerprint)
    return DbCopy(schema, records)


def check_copies(
    connector: Any, copy: DbCopy, entries: Iterable[TableSnapshot], *, lock: Any | None = None
) -> dict[str, str]:
    """Why each unusable copy cannot be used (missing, or changed since the snapshot); {} when all can.

    With ``lock`` (an open restore transaction) each copy is SHARE-locked in it before its
    fingerprint is recomputed, so that what was checked is what the restore inserts.
    """
    runner = lock or connector
    problems: dict[str, str] = {}
    for entry in entries:
        record = copy.tables.get(entry.name)
        where = relation(connector, copy.schema, entry.name)
        name = f"{copy.schema}.{entry.name}"
        if record is None or (record.rows, record.checksum) != (entry.rows, entry.checksum):
            problems[entry.name] = f"copy {name} is not recorded with the snapshot's checksum"
            continue
        if FINGERPRINT_SEPARATOR not in record.fingerprint:
            problems[entry.name] = f"copy {name} is recorded with a fingerprint of an earlier version"
            continue
        query, parameters = connector.dialect.relation_exists_query(where)
        if not runner.execute(query, parameters)[0][0]:
            problems[entry.name] = f"copy {name} is missing"
            continue
        if lock is not None:
            lock.execute(connector.dialect.share_lock(where))
        rows, fingerprint = _fingerprint(runner, connector.dialect, where)
        if (rows, fingerprint) != (record.rows, record.fingerprint):
            problems[entry.name] = (
                f"copy {name} changed since the snapshot ({rows} rows, fingerprint differs)"
            )
    return problems
