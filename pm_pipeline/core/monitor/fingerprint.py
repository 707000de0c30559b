"""Cheap fingerprints of a table (row count, max updated-at, bucket checksums) for the drift sensor.

A fingerprint is only ever compared with an earlier fingerprint of the same table on the same
engine, so the checksum need not agree across engines: it uses whatever hash the engine has.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

from pm_pipeline.core.connectors.base import Connector


@dataclass(frozen=True)
class Fingerprint:
    """One side of one table at one moment. ``checksum`` is None where it was not affordable."""

    rows: int
    max_updated_at: str | None = None
    checksum: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Fingerprint:
        rows = data["rows"]
        updated = data.get("max_updated_at")
        checksum = data.get("checksum")
        return cls(
            rows=int(rows) if isinstance(rows, int | str) else 0,
            max_updated_at=None if updated is None else str(updated),
            checksum=None if checksum is None else str(checksum),
        )


def _row_hash(connector: Connector, table: str) -> str | None:
    """A per-row integer hash expression over alias ``t``, or None if the engine has none."""

    def columns() -> list[str]:
        return [connector.quote(name) for name in connector.introspect(table).column_names]

    return connector.dialect.record_hash("t", columns)


def bucket_checksum(connector: Connector, table: str, *, buckets: int) -> str | None:
    """A digest of (bucket, count, sum of row hashes) for ``buckets`` hash buckets; None if unsupported."""
    row_hash = _row_hash(connector, table)
    if row_hash is None:
        return None
    sql = (
        f"SELECT MOD(MOD(h, {int(buckets)}) + {int(buckets)}, {int(buckets)}) AS b, COUNT(*), "
        f"SUM(MOD(h, 1000000007)) FROM (SELECT {row_hash} AS h FROM {connector.qualified(table)} t) s "
        "GROUP BY 1 ORDER BY 1"
    )
    rows = connector.execute(sql)
    text = json.dumps([[str(value) for value in row] for row in rows])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def fingerprint(
    connector: Connector,
    table: str,
    *,
    updated_at: str | None = None,
    checksum_max_rows: int = 200_000,
    buckets: int = 16,
) -> Fingerprint:
    """Row count, max of ``updated_at`` and, for tables up to ``checksum_max_rows``, bucket checksums."""
    qualified = connector.qualified(table)
    max_updated: str | None = None
    if updated_at is not None:
        rows_and_max = connector.execute(
            f"SELECT COUNT(*), MAX({connector.quote(updated_at)}) FROM {qualified}"
        )
        count = int(rows_and_max[0][0])
        max_updated = None if rows_and_max[0][1] is None else str(rows_and_max[0][1])
    else:
        count = connector.row_count(table)
    checksum = bucket_checksum(connector, table, buckets=buckets) if count <= checksum_max_rows else None
    return Fingerprint(rows=count, max_updated_at=max_updated, checksum=checksum)


@dataclass(frozen=True)
class DriftScan:
    """The outcome of one sensor tick: fingerprints now known, tables changed, tables left for later."""

    fingerprints: dict[str, dict[str, Fingerprint]]  # table -> side -> fingerprint
    changed: tuple[str, ...]
    pending: tuple[str, ...]  # not reached within the time budget; scanned first next tick


def scan_drift(
    tables: Sequence[str],
    previous: Mapping[str, Mapping[str, Fingerprint]],
    *,
    measure: Callable[[str], dict[str, Fingerprint]],
    budget_seconds: float,
    pending_first: Sequence[str] = (),
    clock: Callable[[], float] = time.monotonic,
) -> DriftScan:
    """Fingerprint ``tables`` (those pending from last tick first) until the budget is spent.

    ``measure(table)`` returns the table's fingerprint per side. A table seen for the first time is
    not "changed": there is nothing to compare it with yet.
    """
    order = [t for t in pending_first if t in tables] + [t for t in tables if t not in pending_first]
    started = clock()
    fingerprints = {table: dict(sides) for table, sides in previous.items() if table in tables}
    changed: list[str] = []
    done = 0
    for table in order:
        # The budget check comes before the measurement: at least one table is always measured.
        if done and clock() - started >= budget_seconds:
            break
        current = measure(table)
        old = previous.get(table)
        if old is not None and dict(old) != current:
            changed.append(table)
        fingerprints[table] = current
        done += 1
    return DriftScan(fingerprints=fingerprints, changed=tuple(changed), pending=tuple(order[done:]))


def encode_fingerprints(fingerprints: Mapping[str, Mapping[str, Fingerprint]]) -> dict[str, object]:
    return {
        table: {side: fp.to_dict() for side, fp in sides.items()} for table, sides in fingerprints.items()
    }


def decode_fingerprints(data: Mapping[str, object]) -> dict[str, dict[str, Fingerprint]]:
    decoded: dict[str, dict[str, Fingerprint]] = {}
    for table, sides in data.items():
        if isinstance(sides, dict):
            decoded[table] = {side: Fingerprint.from_dict(fp) for side, fp in sides.items()}
    return decoded


def state_key(fingerprints: Mapping[str, Fingerprint]) -> str:
    """A short stable digest of one table's fingerprints, used as a run key."""
    text = json.dumps({side: fp.to_dict() for side, fp in sorted(fingerprints.items())}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
