"""What a rollback would destroy and how long it would take, measured before anything is written."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pm_pipeline.core.connectors import connect
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.dialects import dialect_for
from pm_pipeline.core.rollback.checksum import DigestedBatch, iter_digests
from pm_pipeline.core.rollback.manifest import TableSnapshot
from pm_pipeline.core.rollback.plan import RollbackPlan
from pm_pipeline.core.rollback.references import refuse_outside_references
from pm_pipeline.core.rollback.snapshot import load_manifest

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


# Rows are matched by a 128-bit hash of their canonical key and compared by the first 128 bits of
# their digest: a fixed 32 bytes per snapshot row, held in two sorted numpy arrays.
_HASH_BYTES = 16


def _key_hashes(keys: list[str]) -> np.ndarray:
    blake2b = hashlib.blake2b
    joined = b"".join(blake2b(key.encode(), digest_size=_HASH_BYTES).digest() for key in keys)
    return np.frombuffer(joined, dtype=f"S{_HASH_BYTES}")


def _digest_prefixes(digests: list[bytes]) -> np.ndarray:
    joined = b"".join(digest[:_HASH_BYTES] for digest in digests)
    return np.frombuffer(joined, dtype=f"S{_HASH_BYTES}")


class _KeyedRows:
    """The snapshot's rows of a keyed table, by key; a key read twice keeps its last row."""

    def __init__(self, digested: Iterable[DigestedBatch]) -> None:
        keys: list[np.ndarray] = []
        digests: list[np.ndarray] = []
        self.rows = 0
        for part in digested:
            assert part.keys is not None
            keys.append(_key_hashes(part.keys))
            digests.append(_digest_prefixes(part.digests))
            self.rows += part.batch.num_rows
        all_keys = np.concatenate(keys) if keys else np.empty(0, f"S{_HASH_BYTES}")
        all_digests = np.concatenate(digests) if digests else np.empty(0, f"S{_HASH_BYTES}")
        keys.clear()
        digests.clear()
        order = np.argsort(all_keys, kind="stable")  # equal keys stay in read order
        all_keys, all_digests = all_keys[order], all_digests[order]
        last = np.ones(len(all_keys), dtype=bool)
        last[:-1] = all_keys[1:] != all_keys[:-1]
        self.keys = all_keys[last]
        self.digests = all_digests[last]
        self.seen = np.zeros(len(self.keys), dtype=bool)

    def compare(self, part: DigestedBatch) -> tuple[np.ndarray, np.ndarray]:
        """(which rows of ``part`` have a key the snapshot holds, which rows differ from the snapshot's)."""
        assert part.keys is not None
        keys = _key_hashes(part.keys)
        if not len(self.keys):
            found = np.zeros(len(keys), dtype=bool)
            return found, ~found
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = self.keys[at] == keys
        self.seen[at[found]] = True
        same = found & (self.digests[at] == _digest_prefixes(part.digests))
        return found, ~same

    @property
    def unseen(self) -> int:
        return int(len(self.seen) - np.count_nonzero(self.seen))


@dataclass
class _Compared:
    snapshot_rows: int = 0
    current_rows: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    export_file: str | None = None


def _snapshot_batches(directory: str, entry: TableSnapshot) -> Iterator[pa.RecordBatch]:
    with pq.ParquetFile(Path(directory) / entry.file) as parquet:
        yield from parquet.iter_batches()


def _compare_table(
    connector: Any, directory: str, entry: TableSnapshot, schema: TableSchema, file: Path
) -> _Compared:
    """Stream the live table once against the snapshot's rows, writing its changed rows to ``file``."""
    result = _Compared()
    snapshot_digests = iter_digests(_snapshot_batches(directory, entry), schema)
    keyed_rows: _KeyedRows | None = None
    before: Counter[bytes] = Counter()  # digest -> snapshot rows of a keyless table not matched yet
    if schema.primary_key:
        keyed_rows = _KeyedRows(snapshot_digests)
        result.snapshot_rows = keyed_rows.rows
    else:
        for part in snapshot_digests:
            before.update(part.digests)
            result.snapshot_rows += part.batch.num_rows
    writer: pq.ParquetWriter | None = None
    try:
        for part in iter_digests(connector.stream_table(entry.name, schema=schema), schema):
            result.current_rows += part.batch.num_rows
            if keyed_rows is not None:
                found, keep = keyed_rows.compare(part)
                result.inserted += int(np.count_nonzero(~found))
                result.updated += int(np.count_nonzero(found & keep))
            else:
                keep = np.ones(part.batch.num_rows, dtype=bool)
                for row, digest in enumerate(part.digests):
                    if before[digest]:
                        before[digest] -= 1
                        keep[row] = False
                result.inserted += int(np.count_nonzero(keep))
            if keep.any():
                if writer is None:
                    writer = pq.ParquetWriter(file, part.batch.schema)
                writer.write_batch(part.batch.filter(pa.array(keep)))
    except BaseException:
        if writer is not None:
            writer.close()
            file.unlink(missing_ok=True)  # a partial export; the live rows were not touched
        raise
    if writer is not None:
        writer.close()
        result.export_file = str(file)
    result.deleted = keyed_rows.unseen if keyed_rows is not None else sum(before.values())
    return result


def assess_risk(plan: RollbackPlan, *, export_dir: str | Path) -> RiskAssessment:
    """Compare the live target with the snapshot; export every row changed since it to ``export_dir``.

    Each table is read once from each side, a batch at a time: memory holds a fixed 32 bytes per
    snapshot row of a keyed table (a count per distinct row of a keyless one), not the rows.
    """
    manifest = load_manifest(plan.snapshot_dir)
    out = Path(export_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Never overwrite an earlier export: a second run must not replace rows the first one saved.
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    changes: list[TableChanges] = []
    read_rows = 0
    started = time.perf_counter()
    with connect(plan.target_url) as connector:
        refuse_outside_references(connector, plan.load_order)
        for name in plan.load_order:
            entry = manifest.table(name)
            file = out / f"{name}.changed.{stamp}.parquet"
            found = _compare_table(connector, manifest.directory, entry, entry.schema, file)
            read_rows += found.snapshot_rows + found.current_rows
            changes.append(
                TableChanges(
                    name,
                    found.snapshot_rows,
                    found.current_rows,
                    found.inserted,
                    found.updated,
                    found.deleted,
                    found.export_file,
                )
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
        dialect_for(plan.engine).restore_locks(list(plan.load_order)), str(out),
    )  # fmt: skip
    summary = {
        "plan_checksum": plan.checksum,
        "level": level,
        "reasons": reasons,
        "tables": [t.__dict__ for t in changes],
    }
    _write_summary(out, summary, stamp=stamp)
    return assessment


def _write_summary(out: Path, summary: dict[str, Any], *, stamp: str) -> None:
    """Each run's summary in a file of its own, never overwritten (a rerun after a restore finds
    nothing left to export, and must not replace the summary of the rows the first run saved);
    ``changes.json`` is a link to the newest, replaced atomically."""
    dated = out / f"changes.{stamp}.json"
    with dated.open("x", encoding="utf-8") as handle:
        handle.write(json.dumps(summary, indent=2))
    latest = out / EXPORT_SUMMARY
    if latest.exists() and not latest.is_symlink():
        # A summary written as a plain file by an earlier version: kept under its own date.
        kept = dt.datetime.fromtimestamp(latest.stat().st_mtime, dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        latest.rename(out / f"changes.{kept}.json")
    link = out / f".{EXPORT_SUMMARY}.{stamp}"
    link.symlink_to(dated.name)
    os.replace(link, latest)


def export_done(plan: RollbackPlan, export_dir: Path) -> bool:
    """Whether the newest export summary in ``export_dir`` is of ``plan``."""
    summary = export_dir / EXPORT_SUMMARY
    if not summary.exists():
        return False
    return bool(json.loads(summary.read_text()).get("plan_checksum") == plan.checksum)
