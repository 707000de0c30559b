"""The plan's last proof: every restored table reconciled row by row against its snapshot file.

The reconciliation engine compares the snapshot's Parquet file (through the Parquet connector) with
the live table, both read with the schema recorded in the manifest, so that a difference comes
with its keys, columns and values (and a diff file), not only a checksum that differs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import TableReconciliation
from pm_pipeline.core.reconcile.engine import ReconcileOptions, reconcile_table
from pm_pipeline.core.rollback.manifest import Manifest


@dataclass(frozen=True)
class SnapshotComparison:
    """One restored table against its snapshot file."""

    table: str
    snapshot_rows: int
    target_rows: int
    matched_rows: int
    missing_rows: int  # in the snapshot, not in the target
    extra_rows: int  # in the target, not in the snapshot
    changed_rows: int
    duplicate_keys: int
    passed: bool
    diff_path: str | None

    def describe(self) -> str:
        if self.passed:
            return f"{self.table}: {self.matched_rows} of {self.snapshot_rows} rows match"
        where = f" (rows in {self.diff_path})" if self.diff_path else ""
        return (
            f"{self.table}: {self.missing_rows} missing, {self.extra_rows} extra, {self.changed_rows} changed, "
            f"{self.duplicate_keys} duplicate key(s){where}"
        )


def _summary(table: str, result: TableReconciliation) -> SnapshotComparison:
    return SnapshotComparison(
        table=table,
        snapshot_rows=result.source_rows,
        target_rows=result.target_rows,
        matched_rows=result.matched_rows,
        missing_rows=result.missing_rows,
        extra_rows=result.extra_rows,
        changed_rows=result.changed_rows,
        duplicate_keys=result.duplicate_keys_source + result.duplicate_keys_target,
        passed=result.passed,
        diff_path=result.diff_path,
    )


def diff_folder(export_dir: str | Path) -> Path:
    """A new folder for this run's diff files; earlier runs' files are never overwritten."""
    return Path(export_dir) / f"reconciliation.{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S%fZ')}"


def reconcile_with_snapshot(
    target_url: str, manifest: Manifest, *, tables: list[str], diff_dir: Path
) -> list[SnapshotComparison]:
    """Reconcile ``tables`` of the target with the snapshot's files; differences are written to ``diff_dir``."""
    # The files hold values as the connector read them (a MariaDB DATETIME as text): only the Arrow
    # strategy canonicalises both sides from what was read, as the checksums do; nothing is pushed down.
    options = ReconcileOptions(diff_dir=diff_dir, strategy="arrow", strategy_source="the rollback check")
    results: list[SnapshotComparison] = []
    with connect(target_url) as target:
        for name in tables:
            entry = manifest.table(name)
            file = (Path(manifest.directory) / entry.file).resolve()
            with connect(f"parquet:///{file}") as snapshot:
                result = reconcile_table(
                    source=snapshot,
                    target=target,
                    mapping=TableMapping(source=file.stem, target=name),
                    options=options,
                    source_schema=entry.schema,
                    target_schema=entry.schema,
                )
            results.append(_summary(name, result))
    return results


def as_audit_data(results: list[SnapshotComparison]) -> list[dict[str, Any]]:
    return [asdict(result) for result in results]
