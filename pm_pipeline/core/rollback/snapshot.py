"""Snapshots of target tables: one Parquet file per table and a manifest of counts and checksums.

A snapshot counts as usable only once every file has been re-read and its canonical checksum
matches the one computed while the table was read from the database (``verified: true``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pm_pipeline.core.connectors import Column, ForeignKey, Index, TableSchema, TypeFamily, connect
from pm_pipeline.core.connectors import Sequence as SequenceInfo
from pm_pipeline.core.digest.files import file_sha256
from pm_pipeline.core.errors import BadInputError, IntegrityRefusal
from pm_pipeline.core.rollback import dbcopy
from pm_pipeline.core.rollback.checksum import digest_batches, select_sql
from pm_pipeline.core.rollback.ddl import capture
from pm_pipeline.core.rollback.manifest import CopyRecord, DbCopy, Manifest, TableSnapshot
from pm_pipeline.core.security.audit import AuditLog
from pm_pipeline.core.security.masking import mask_url

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


def _column_from_json(c: dict[str, Any]) -> Column:
    return Column(
        **{
            **c,
            "family": TypeFamily(c["family"]),
            "enum_values": tuple(c["enum_values"]) if c["enum_values"] else None,
            "element": _column_from_json(c["element"]) if c.get("element") else None,  # arrays and lists
        }
    )


def _schema_from_json(data: dict[str, Any]) -> TableSchema:
    columns = tuple(_column_from_json(c) for c in data["columns"])
    return TableSchema(
        name=data["name"],
        columns=columns,
        primary_key=tuple(data["primary_key"]),
        foreign_keys=tuple(
            ForeignKey(f["name"], tuple(f["columns"]), f["ref_table"], tuple(f["ref_columns"]))
            for f in data["foreign_keys"]
        ),
        indexes=tuple(Index(i["name"], tuple(i["columns"]), i["unique"]) for i in data["indexes"]),
        sequences=tuple(SequenceInfo(s["name"], s["column"], s["next_value"]) for s in data["sequences"]),
    )


def _schema_to_json(schema: TableSchema) -> dict[str, Any]:
    data = asdict(schema)
    return {
        key: data[key] for key in ("name", "columns", "primary_key", "foreign_keys", "indexes", "sequences")
    }


def _write_table(connector: Any, schema: TableSchema, path: Path, relation: str) -> tuple[int, str]:
    writer: pq.ParquetWriter | None = None

    def stream() -> Any:
        nonlocal writer
        for batch in connector.stream_query(select_sql(connector, relation, schema)):
            if writer is None:
                writer = pq.ParquetWriter(path, batch.schema)
            writer.write_batch(batch)
            yield batch

    try:
        digest = digest_batches(stream(), schema)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # an empty table still gets a file with its columns
        empty = connector.query_arrow(f"{select_sql(connector, relation, schema)} WHERE 1 = 0")
        pq.write_table(empty if empty.num_columns else pa.table({}), path)
    return digest.rows, digest.checksum


def _entry(connector: Any, schema: TableSchema, file: Path, relation: str) -> dict[str, Any]:
    rows, checksum = _write_table(connector, schema, file, relation)
    ddl = capture(connector, schema)
    return {
        "name": schema.name,
        "rows": rows,
        "checksum": checksum,
        "file": file.name,
        "file_sha256": file_sha256(file),
        "ddl": ddl.table,
        "schema": _schema_to_json(schema),
        "index_ddl": ddl.indexes,
        "constraint_ddl": ddl.constraints,
        "deferrable_fks": list(ddl.deferrable_fks),
    }


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))


def create_snapshot(
    url: str,
    *,
    tables: list[str],
    snapshot_dir: str | Path,
    audit: AuditLog | None = None,
    actor: str = "system",
    in_database: bool = False,
) -> Manifest:
    """Snapshot ``tables`` of the database at ``url`` into a new folder under ``snapshot_dir``, then verify it.

    With ``in_database`` (PostgreSQL), the tables are first copied into the schema
    ``pm_snapshot_<id>`` in one transaction and the Parquet files are written from those copies;
    a restore then loads each table from its copy (fast) when the copy still verifies.
    """
    if not tables:
        raise BadInputError("rollback snapshot: no tables named (rollback.tables or the spec's tables)")
    snapshot_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    with connect(url) as connector:
        if in_database and not connector.dialect.supports_in_database_copies:
            raise BadInputError(
                f"rollback snapshot of {mask_url(url)}: in-database snapshots are offered on PostgreSQL "
                f"only, not {connector.engine}; the Parquet snapshot covers every engine"
            )
        schemas = [connector.introspect(table) for table in tables]
        folder = Path(snapshot_dir) / snapshot_id
        folder.mkdir(parents=True, exist_ok=False)
        copy_schema = dbcopy.schema_for(snapshot_id) if in_database else None
        if copy_schema:
            dbcopy.create_copies(connector, copy_schema, schemas)
        try:
            manifest = _snapshot_files(connector, schemas, folder, url=url, copy_schema=copy_schema)
        except BaseException:
            if copy_schema:
                dbcopy.drop_copies(connector, copy_schema)
            raise
    if audit is not None:
        audit.append(
            "snapshot.created",
            actor=actor,
            data={
                "snapshot": str(folder),
                "tables": {t.name: [t.rows, t.checksum] for t in manifest.tables},
                "in_database": copy_schema,
            },
        )
    return manifest


def _snapshot_files(
    connector: Any, schemas: list[TableSchema], folder: Path, *, url: str, copy_schema: str | None
) -> Manifest:
    entries = [
        _entry(
            connector,
            schema,
            folder / f"{index:04d}_{schema.name}.parquet",
            dbcopy.relation(connector, copy_schema, schema.name)
            if copy_schema
            else connector.qualified(schema.name),
        )
        for index, schema in enumerate(schemas)
    ]
    manifest: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "snapshot_id": folder.name,
        "engine": connector.engine,
        "target": mask_url(url),
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "tables": entries,
        "in_database": None,
        "verified": False,
    }
    _write_manifest(folder, manifest)
    verified = verify_snapshot(folder)
    if copy_schema:
        manifest["in_database"] = asdict(dbcopy.verify_new_copies(connector, copy_schema, verified.tables))
    manifest["verified"] = True
    _write_manifest(folder, manifest)
    return load_manifest(folder)


def load_manifest(folder: str | Path) -> Manifest:
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise BadInputError(f"snapshot {folder}: no {MANIFEST}")
    try:
        data = json.loads(path.read_text())
        tables = tuple(
            TableSnapshot(
                name=t["name"],
                rows=int(t["rows"]),
                checksum=t["checksum"],
                file=t["file"],
                file_sha256=t["file_sha256"],
                ddl=t["ddl"],
                schema=_schema_from_json(t["schema"]),
                index_ddl=dict(t["index_ddl"]),
                constraint_ddl=dict(t["constraint_ddl"]),
                deferrable_fks=tuple(t["deferrable_fks"]),
            )
            for t in data["tables"]
        )
        return Manifest(
            snapshot_id=data["snapshot_id"],
            directory=str(Path(folder)),
            engine=data["engine"],
            target=data["target"],
            created_at=data["created_at"],
            tables=tables,
            verified=bool(data["verified"]),
            db_copy=_db_copy_from_json(data.get("in_database")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityRefusal(f"snapshot {folder}: {MANIFEST} is unreadable or incomplete ({exc})") from None


def _db_copy_from_json(data: dict[str, Any] | None) -> DbCopy | None:
    if not data:
        return None
    return DbCopy(
        schema=str(data["schema"]),
        tables={
            name: CopyRecord(int(t["rows"]), str(t["checksum"]), str(t["fingerprint"]))
            for name, t in data["tables"].items()
        },
    )


def read_snapshot_table(manifest: Manifest, entry: TableSnapshot) -> pa.Table:
    return pq.read_table(Path(manifest.directory) / entry.file)


def verify_snapshot(folder: str | Path) -> Manifest:
    """Re-read every file: its SHA-256, row count and canonical checksum must match the manifest.

    Raises IntegrityRefusal naming the first table whose file does not match.
    """
    manifest = load_manifest(folder)
    for entry in manifest.tables:
        path = Path(manifest.directory) / entry.file
        if not path.exists():
            raise IntegrityRefusal(f"snapshot {folder}: file {entry.file} of table {entry.name} is missing")
        if file_sha256(path) != entry.file_sha256:
            raise IntegrityRefusal(
                f"snapshot {folder}: file {entry.file} of table {entry.name} was modified (SHA-256 differs)"
            )
        try:  # batch by batch: memory stays bounded whatever the table's size
            digest = digest_batches(pq.ParquetFile(path).iter_batches(), entry.schema)
        except (OSError, pa.ArrowException) as exc:  # a damaged file fails in several pyarrow ways
            raise IntegrityRefusal(f"snapshot {folder}: file {entry.file} cannot be read ({exc})") from None
        if digest.rows != entry.rows or digest.checksum != entry.checksum:
            raise IntegrityRefusal(
                f"snapshot {folder}: table {entry.name} re-read as {digest.rows} rows / {digest.checksum[:12]}, "
                f"manifest says {entry.rows} rows / {entry.checksum[:12]}"
            )
    return manifest


class NoSnapshotError(BadInputError):
    """No verified snapshot exists yet (not an error of any snapshot that does exist)."""


def latest_snapshot(snapshot_dir: str | Path) -> Path:
    """The newest snapshot folder under ``snapshot_dir`` whose manifest says it was verified."""
    root = Path(snapshot_dir)
    candidates = sorted((p for p in root.glob("*/" + MANIFEST)), reverse=True) if root.exists() else []
    for manifest in candidates:
        try:
            data = json.loads(manifest.read_text())
        except (OSError, ValueError) as exc:
            data, problem = None, str(exc)
        else:
            problem = "not a JSON object"
        if not isinstance(data, dict):
            # Never fall back to an older snapshot: the newest one is what a rollback would expect.
            raise IntegrityRefusal(
                f"snapshot {manifest.parent}: its manifest is unreadable ({MANIFEST}: {problem}); "
                f"repair or remove {manifest.parent}"
            )
        if data.get("verified"):
            return manifest.parent
    raise NoSnapshotError(f"no verified snapshot under {root}; take one with create_snapshot first")
