"""What a rollback checks of the snapshot before its first write, and of the target after COMMIT."""

from __future__ import annotations

from pathlib import Path

from pm_pipeline.core.connectors import connect, parse_url
from pm_pipeline.core.dialects import dialect_for
from pm_pipeline.core.digest.files import file_sha256
from pm_pipeline.core.errors import IntegrityRefusal
from pm_pipeline.core.rollback.checksum import select_sql, table_checksum
from pm_pipeline.core.rollback.manifest import Manifest, TableSnapshot
from pm_pipeline.core.rollback.plan import RollbackPlan
from pm_pipeline.core.rollback.reconcile import reconcile_with_snapshot
from pm_pipeline.core.rollback.snapshot import load_manifest, verify_snapshot


def check_file(manifest: Manifest, entry: TableSnapshot) -> None:
    """Refuse a snapshot file that is not byte for byte the one its manifest names (SHA-256).

    A verified manifest's files were re-read and checked canonically when it was written; the
    verify_snapshot and verify_restore steps check them canonically again.
    """
    path = Path(manifest.directory) / entry.file
    if not path.exists():
        raise IntegrityRefusal(
            f"snapshot {manifest.directory}: file {entry.file} of table {entry.name} is missing"
        )
    if file_sha256(path) != entry.file_sha256:
        raise IntegrityRefusal(
            f"snapshot {manifest.directory}: file {entry.file} of table {entry.name} was modified "
            "(SHA-256 differs)"
        )


def unchanged_snapshot(folder: str | Path) -> Manifest:
    """The manifest of a verified snapshot whose files are unchanged since (each file's SHA-256).

    A snapshot never marked verified is verified in full instead.
    """
    manifest = load_manifest(folder)
    if not manifest.verified:
        return verify_snapshot(folder)
    for entry in manifest.tables:
        check_file(manifest, entry)
    return manifest


def verify_restored(plan: RollbackPlan, *, diff_dir: Path | None = None) -> dict[str, str]:
    """Recompute every restored table's canonical checksum; raise IntegrityRefusal if one differs.

    With ``diff_dir``, the tables that differ are also reconciled against the snapshot, so that the
    error names their missing, extra and changed rows (written to ``diff_dir``).
    """
    manifest = load_manifest(plan.snapshot_dir)
    checksums: dict[str, str] = {}
    wrong: list[str] = []
    with connect(plan.target_url) as connector:
        for entry in manifest.tables:
            digest = table_checksum(connector, entry.name, schema=entry.schema)
            if digest.checksum != entry.checksum or digest.rows != entry.rows:
                wrong.append(
                    f"restored table {entry.name} has {digest.rows} rows / {digest.checksum[:12]}, "
                    f"snapshot {entry.rows} rows / {entry.checksum[:12]}"
                )
            checksums[entry.name] = digest.checksum
    if wrong:
        tables = [name for name in plan.load_order if checksums.get(name) != manifest.table(name).checksum]
        if diff_dir is not None:
            results = reconcile_with_snapshot(plan.target_url, manifest, tables=tables, diff_dir=diff_dir)
            wrong += [result.describe() for result in results]
        raise IntegrityRefusal("; ".join(wrong))
    return checksums


def read_sql(plan: RollbackPlan) -> tuple[str, ...]:
    """The SELECTs that read the target's tables, as its connector renders them, without connecting
    (a dry run shows them even when the target cannot be reached)."""
    manifest = load_manifest(plan.snapshot_dir)
    dialect = dialect_for(plan.engine)
    schema = dialect.url_schema(parse_url(plan.target_url))
    return tuple(
        select_sql(dialect, dialect.qualified(name, schema), manifest.table(name).schema)
        for name in plan.load_order
    )
