"""What a rollback would destroy and how long it would take, measured before anything is written."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq

from pm_pipeline.core.connectors import connect
from pm_pipeline.core.rollback.checksum import digest_batches
from pm_pipeline.core.rollback.plan import RollbackPlan
from pm_pipeline.core.rollback.snapshot import load_manifest, read_snapshot_table

RiskLevel = Literal["low", "medium", "high"]
# Rows rewritten per second relative to rows read: writes with index maintenance are slower.
WRITE_SLOWDOWN = 3.0
EXPORT_SUMMARY = "changes.json"


@dataclass(frozen=True)
class TableChanges:
    table: str
    snapshot_rows: int
    current_rows: int
    inserted: int
    updated: int
    deleted: int
    export_file: str | None  # current versions of inserted/updated rows (Parquet)

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.deleted


@dataclass(frozen=True)
class RiskAssessment:
    plan_checksum: str
    level: RiskLevel
    reasons: tuple[str, ...]
    tables: tuple[TableChanges, ...]
    rows_to_write: int
    estimated_seconds: float
    measured_rows_per_second: float
    locks: tuple[str, ...]
    export_dir: str

    @property
    def changed_rows(self) -> int:
        return sum(t.changed for t in self.tables)


def _locks(engine: str, tables: list[str]) -> tuple[str, ...]:
    if engine == "postgresql":
        return (
            *tuple(f"ROW EXCLUSIVE on {t} and a row lock on every row deleted or inserted" for t in tables),
            "SHARE lock on a table while a missing index is rebuilt",
        )
    if engine == "mysql":
        return (
            "none on the target while the shadow tables are loaded and verified",
            f"an exclusive metadata lock on {', '.join(tables)} for the one RENAME TABLE that swaps them",
        )
    return (f"{engine}: database write lock for the whole transaction",)


def assess_risk(plan: RollbackPlan, *, export_dir: str | Path) -> RiskAssessment:
    """Compare the live target with the snapshot; export every row changed since it to ``export_dir``."""
    manifest = load_manifest(plan.snapshot_dir)
    out = Path(export_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Never overwrite an earlier export: a second run must not replace rows the first one saved.
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    changes: list[TableChanges] = []
    read_rows = 0
    started = time.perf_counter()
    with connect(plan.target_url) as connector:
        for name in plan.load_order:
            entry = manifest.table(name)
            snapshot = digest_batches(read_snapshot_table(manifest, entry).to_batches(), entry.schema)
            batches = list(connector.stream_table(name, schema=entry.schema))
            current = digest_batches(batches, entry.schema)
            read_rows += snapshot.rows + current.rows
            if entry.schema.primary_key:
                changed_keys = {k for k, d in current.by_key.items() if snapshot.by_key.get(k) != d}
                inserted = len(changed_keys - snapshot.by_key.keys())
                updated = len(changed_keys) - inserted
                deleted = len(snapshot.by_key.keys() - current.by_key.keys())
                keep = [k in changed_keys for k in current.by_key]  # by_key keeps read order
            else:
                before = list(snapshot.keyless)
                keep = []
                for digest in current.keyless:
                    if digest in before:
                        before.remove(digest)
                        keep.append(False)
                    else:
                        keep.append(True)
                inserted, updated, deleted = sum(keep), 0, len(before)
            export_file = None
            if any(keep) and batches:
                table = pa.Table.from_batches(batches)
                file = out / f"{name}.changed.{stamp}.parquet"
                pq.write_table(table.filter(pa.array(keep[: table.num_rows])), file)
                export_file = str(file)
            changes.append(
                TableChanges(name, snapshot.rows, current.rows, inserted, updated, deleted, export_file)
            )
    elapsed = max(time.perf_counter() - started, 1e-6)
    throughput = read_rows / elapsed
    rows_to_write = sum(t.snapshot_rows + t.current_rows for t in changes)
    estimated = rows_to_write / max(throughput, 1.0) * WRITE_SLOWDOWN
    reasons: list[str] = []
    level: RiskLevel = "low"
    changed = sum(t.changed for t in changes)
    if changed:
        level = "high"
        reasons.append(f"{changed} row(s) changed since the snapshot will be replaced (exported to {out})")
    if plan.deferred_cycles:
        level = "high" if level == "high" else "medium"
        reasons.append(f"foreign-key cycles restored with deferred checks: {plan.deferred_cycles}")
    if rows_to_write > 1_000_000:
        level = "high" if level == "high" else "medium"
        reasons.append(f"{rows_to_write} rows deleted and reinserted")
    if estimated > 300:
        level = "high" if level == "high" else "medium"
        reasons.append(f"estimated {estimated:.0f} s of locks on the target")
    if not reasons:
        reasons.append("the target still matches the snapshot; the restore rewrites identical rows")
    assessment = RiskAssessment(
        plan.checksum, level, tuple(reasons), tuple(changes), rows_to_write, estimated, throughput,
        _locks(plan.engine, list(plan.load_order)), str(out),
    )  # fmt: skip
    summary = {
        "plan_checksum": plan.checksum,
        "level": level,
        "reasons": reasons,
        "tables": [t.__dict__ for t in changes],
    }
    (out / EXPORT_SUMMARY).write_text(json.dumps(summary, indent=2))
    return assessment
