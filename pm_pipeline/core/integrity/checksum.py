# Over 300 lines: the checksum's canonical row text, its computation and its manifest are one versioned contract.
"""Order-independent table checksums over canonical rows, and the manifest that lets anyone recompute them.

Canonical row text (version ``pm-row-json-1``):

1. Each checksummed column, in the manifest's order, is canonicalised with
   :func:`pm_pipeline.core.canonical.canonicalize` (``strict=True``: type conversions only) in the
   family the manifest records for it (the SET family with its order, and a declared list
   separator: ``set:unordered``, ``set:ordered:;``).
2. Each canonical value becomes a JSON value: NULL -> ``null``; int64 -> a JSON integer; float64
   -> Python's ``repr`` as JSON number (NaN and infinities as the strings ``"nan"``, ``"inf"``,
   ``"-inf"``); text -> a JSON string; binary -> a JSON string of lower-case hex.
3. The row is the JSON array of these values, serialised with ``json.dumps(values,
   ensure_ascii=False, separators=(",", ":"))`` and encoded as UTF-8.
4. Row digest = SHA-256 of those bytes, read as a big-endian 256-bit unsigned integer.
5. Table checksum = sum of the row digests modulo 2**256, as 64 lower-case hex digits. A sum (not
   XOR) keeps duplicate rows visible; it does not depend on row order.

The bytes of step 3 are built a batch at a time with Arrow compute
(:mod:`pm_pipeline.core.digest.rows`), not value by value; tests hold them equal to the
``json.dumps`` definition above, byte for byte.

Columns compared with a tolerance (floats, declared tolerances) or transformed by declared rules
are left out and listed as ``excluded``: their canonical values may rightly differ.

A side may instead carry the reconciliation's own digest, computed inside the database by the
bucket pass (``xor64-sql-rowhash-1``, :mod:`pm_pipeline.core.digest.tablesum`), or by one
aggregate scan where the engine hashes rows in SQL: the table is then never read a second time
into the process. Each side records its ``algorithm`` and what recomputes it (manifest version 2).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pyarrow as pa

from pm_pipeline.core.canonical import ColumnPlan
from pm_pipeline.core.canonical.plan import recorded_plan
from pm_pipeline.core.canonical.unreadable import readable_canonical
from pm_pipeline.core.connectors.base import THREAD_SAFE_ENGINES, Connector
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.digest import tablesum as sql_digest
from pm_pipeline.core.digest.rows import ALGORITHM, CANONICALIZATION, row_digest_sum
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import SideDigest
from pm_pipeline.core.reconcile import tablesum
from pm_pipeline.core.reconcile.planning import TablePlan

MANIFEST_VERSION = "2"
_READABLE_VERSIONS = ("1", "2")
_MOD = 2**256
_ALGORITHMS = (ALGORITHM, sql_digest.ALGORITHM)

Side = Literal["source", "target"]


@dataclass(frozen=True)
class TableChecksum:
    """The checksum of one table on one side, with what it was computed over."""

    side: Side
    url: str  # masked
    table: str
    columns: tuple[str, ...]
    families: tuple[str, ...]
    excluded: tuple[str, ...]
    zone: str  # the zone naive timestamps were read in
    rows: int
    checksum: str
    algorithm: str = ALGORITHM
    recipe: dict[str, Any] | None = None  # what rebuilds an in-database row hash (tablesum)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.recipe is None:
            del data["recipe"]
        return data


@dataclass(frozen=True)
class ManifestEntry:
    """Both sides of one mapped table."""

    table: str
    source: TableChecksum
    target: TableChecksum

    @property
    def comparable(self) -> bool:
        """Whether equal tables give equal checksums on both sides (same algorithm, no tolerance bins)."""
        if self.source.algorithm != self.target.algorithm:
            return False
        return all(sql_digest.comparable(side.recipe or {}) for side in (self.source, self.target))

    @property
    def matches(self) -> bool:
        return self.source.rows == self.target.rows and self.source.checksum == self.target.checksum


def from_digest(
    digest: SideDigest,
    *,
    side: Side,
    connector: Connector,
    table: str,
    plans: Sequence[ColumnPlan],
) -> TableChecksum:
    """A manifest side from a digest the reconciliation computed: over the checksummed columns
    (this module's algorithm), or over every compared column (an in-database row hash)."""
    if digest.algorithm == ALGORITHM:
        kept, left = checksummed(plans)
    else:
        kept, left = list(plans), []
    columns = [plan.source if side == "source" else plan.target for plan in kept]
    excluded = [(plan.source if side == "source" else plan.target).name for plan in left]
    return TableChecksum(
        side=side,
        url=connector.url.masked,
        table=table,
        columns=tuple(col.name for col in columns),
        families=tuple(plan.recorded_family for plan in kept),
        excluded=tuple(excluded),
        zone=(plans[0].source_zone if side == "source" else plans[0].target_zone) if plans else "UTC",
        rows=digest.rows,
        checksum=digest.checksum,
        algorithm=digest.algorithm,
        recipe=dict(digest.recipe) if digest.algorithm != ALGORITHM else None,
    )


class ChecksumTap:
    """This module's checksum of one side's whole table, from the batches the reconciliation reads
    anyway (``ReconcileOptions.digest_tap``): canonicalised strictly, as ``table_checksum`` does."""

    def __init__(self, *, plans: Sequence[ColumnPlan], side: Side) -> None:
        self._plans = list(plans)
        self._side: Side = side
        self._total = 0
        self._rows = 0
        self._failed = False

    def observe(self, batch: pa.RecordBatch) -> None:
        if self._failed:
            return
        try:
            # Summed as table_checksum sums them: an unreadable value as NULL.
            canonical = [
                readable_canonical(
                    batch.column(_side_name(plan, self._side)),
                    plan=plan,
                    side=self._side,
                    found=None,
                    strict=True,
                )[0]
                for plan in self._plans
            ]
            rows = row_digest_sum(canonical, num_rows=batch.num_rows)
        except Exception:
            # A value the strict canonical form refuses: the integrity check then reads the table
            # itself and reports that value where it belongs (the reconciliation goes on).
            self._failed = True
            return
        self._total = (self._total + rows) % _MOD
        self._rows += batch.num_rows

    def digest(self) -> SideDigest | None:
        if self._failed:
            return None
        return SideDigest(algorithm=ALGORITHM, rows=self._rows, checksum=f"{self._total:064x}")


def checksum_tap(plan: TablePlan, side: str) -> ChecksumTap:
    """The tap for one side of ``plan`` (``ReconcileOptions.digest_tap``)."""
    kept, _ = checksummed(plan.all_plans)
    return ChecksumTap(plans=kept, side="source" if side == "source" else "target")


def _side_name(plan: ColumnPlan, side: Side) -> str:
    return plan.source.name if side == "source" else plan.target.name


def checksummed(plans: Iterable[ColumnPlan]) -> tuple[list[ColumnPlan], list[ColumnPlan]]:
    """(columns in the checksum, columns left out because their values may rightly differ)."""
    kept: list[ColumnPlan] = []
    left: list[ColumnPlan] = []
    for plan in plans:
        (left if plan.tolerant or plan.compares_under_rules else kept).append(plan)
    return kept, left


def table_checksum(
    connector: Connector,
    *,
    table: str,
    plans: Sequence[ColumnPlan],
    excluded: Sequence[str] = (),
    side: Side,
    batch_rows: int = 50_000,
) -> TableChecksum:
    """Stream ``table`` once (bounded memory: one batch at a time) and checksum its canonical rows."""
    columns = [plan.source if side == "source" else plan.target for plan in plans]
    total = rows = 0
    if columns:
        schema = TableSchema(name=table, columns=tuple(columns))
        for batch in connector.stream_table(table, schema=schema, batch_rows=batch_rows):
            # A value unreadable as its family (an unreadable_value finding of the reconciliation)
            # is summed as NULL rather than ending the run.
            canonical = [
                readable_canonical(batch.column(i), plan=plan, side=side, found=None, strict=True)[0]
                for i, plan in enumerate(plans)
            ]
            total = (total + row_digest_sum(canonical, num_rows=batch.num_rows)) % _MOD
            rows += batch.num_rows
    else:
        rows = connector.row_count(table)
    return TableChecksum(
        side=side,
        url=connector.url.masked,
        table=table,
        columns=tuple(col.name for col in columns),
        families=tuple(plan.recorded_family for plan in plans),
        excluded=tuple(excluded),
        zone=(plans[0].source_zone if side == "source" else plans[0].target_zone) if plans else "UTC",
        rows=rows,
        checksum=f"{total:064x}",
    )


def pair_checksums(
    source: Connector,
    target: Connector,
    *,
    tables: tuple[str, str],
    plans: Sequence[ColumnPlan],
    excluded: tuple[Sequence[str], Sequence[str]] = ((), ()),
) -> tuple[TableChecksum, TableChecksum]:
    """Both sides' checksums of one mapped table, each side streamed once. Server databases are
    read at the same time: one side's database reads and Arrow decodes while the other's rows hash."""

    def checksum(index: int) -> TableChecksum:
        side: Side = "source" if index == 0 else "target"
        connector = source if index == 0 else target
        return table_checksum(
            connector, table=tables[index], plans=plans, excluded=excluded[index], side=side
        )

    if source is target or not {source.engine, target.engine} <= THREAD_SAFE_ENGINES:
        return checksum(0), checksum(1)
    with ThreadPoolExecutor(max_workers=2) as pool:
        from_source, from_target = pool.submit(checksum, 0), pool.submit(checksum, 1)
        return from_source.result(), from_target.result()


def manifest_document(
    *, entries: Sequence[ManifestEntry], created_at: dt.datetime | None = None
) -> dict[str, Any]:
    """The checksum manifest as a JSON-ready document."""
    return {
        "manifest_version": MANIFEST_VERSION,
        # The default for a side that names none (every side of a version 1 manifest).
        "algorithm": ALGORITHM,
        "canonicalization": CANONICALIZATION,
        "created_at": (created_at or dt.datetime.now(dt.UTC)).isoformat(),
        "tables": [
            {"table": e.table, "source": e.source.to_json(), "target": e.target.to_json()} for e in entries
        ],
    }


def write_manifest(
    path: str, *, entries: Sequence[ManifestEntry], created_at: dt.datetime | None = None
) -> str:
    """Write the checksum manifest (JSON) to ``path`` and return the path."""
    document = manifest_document(entries=entries, created_at=created_at)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    return path


def read_manifest(path: str) -> dict[str, Any]:
    """Load a manifest, checking it is one this version can recompute."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise BadInputError(f"checksum manifest {path} not found") from None
    except (OSError, ValueError) as exc:
        raise BadInputError(f"checksum manifest {path} cannot be read: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("tables"), list):
        raise BadInputError(f"checksum manifest {path}: not a pm-pipeline checksum manifest")
    version = str(document.get("manifest_version", "1"))
    if version not in _READABLE_VERSIONS:
        raise BadInputError(
            f"checksum manifest {path}: manifest_version {version!r} is not supported "
            f"(expected one of {', '.join(_READABLE_VERSIONS)})"
        )
    for key, wanted in (("algorithm", ALGORITHM), ("canonicalization", CANONICALIZATION)):
        if document.get(key) != wanted:
            raise BadInputError(
                f"checksum manifest {path}: {key} {document.get(key)!r} is not supported (expected {wanted!r})"
            )
    for entry in document["tables"]:
        for side in ("source", "target"):
            recorded = entry.get(side) if isinstance(entry, dict) else None
            algorithm = recorded.get("algorithm", ALGORITHM) if isinstance(recorded, dict) else None
            if algorithm not in _ALGORITHMS:
                raise BadInputError(
                    f"checksum manifest {path}: table {entry.get('table') if isinstance(entry, dict) else entry!r} "
                    f"{side}: algorithm {algorithm!r} is not supported (expected one of {', '.join(_ALGORITHMS)})"
                )
    return document


def recompute(connector: Connector, recorded: dict[str, Any]) -> TableChecksum:
    """Recompute one recorded side's checksum over the same columns, families and zone."""
    side: Side = "source" if recorded["side"] == "source" else "target"
    zone = recorded.get("zone", "UTC")
    if recorded.get("algorithm", ALGORITHM) == sql_digest.ALGORITHM:
        try:
            rows, checksum = tablesum.recompute(
                connector,
                table=recorded["table"],
                side=side,
                columns=recorded["columns"],
                families=recorded["families"],
                zone=zone,
                recipe=recorded.get("recipe") or {},
            )
        except ValueError as exc:
            raise BadInputError(f"checksum manifest: table {recorded['table']} ({side}): {exc}") from None
        return TableChecksum(
            side=side,
            url=str(recorded.get("url", "")),
            table=recorded["table"],
            columns=tuple(recorded["columns"]),
            families=tuple(recorded["families"]),
            excluded=tuple(recorded.get("excluded", ())),
            zone=zone,
            rows=rows,
            checksum=checksum,
            algorithm=sql_digest.ALGORITHM,
            recipe=dict(recorded.get("recipe") or {}),
        )
    schema = connector.introspect(recorded["table"])
    plans = [
        recorded_plan(schema.column(name), family, zone=zone)
        for name, family in zip(recorded["columns"], recorded["families"], strict=True)
    ]
    return table_checksum(
        connector, table=recorded["table"], plans=plans, excluded=recorded.get("excluded", ()), side=side
    )
