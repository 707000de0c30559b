"""Which strategy reconciles a table: by size, engines, keys, column rules and the difference rate.

``auto`` picks:
    arrow     when neither engine can hash in SQL, or the table is small (a single pass with
              no pushdown is then the cheapest);
    bucket    for large tables with a unique key whose every compared column the engines can
              hash or bin in SQL: when differences are rare most buckets are equal and skipped;
    pushdown  otherwise.
The bucket strategy measures the difference rate in its first pass: past a share of differing
rows, filtering by bucket saves nothing, so every row is read (as in pushdown). A strategy the
spec or ``--strategy`` forces but the table cannot use falls back to pushdown, with the reason
in the result. Sizes are the connectors' cheap estimates (``Connector.estimate_rows``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pm_pipeline.core.errors import BadInputError, TableNotFoundError
from pm_pipeline.core.findings import SideDigest
from pm_pipeline.core.reconcile import bucket, tablesum
from pm_pipeline.core.reconcile.planning import TablePlan
from pm_pipeline.core.reconcile.sides import STRATEGIES, SideReader, Slice, pushed_columns

SMALL_TABLE_ROWS = 200_000
BUCKET_TABLE_ROWS = 500_000


@dataclass(frozen=True)
class Choice:
    strategy: str
    pushed: frozenset[int] = frozenset()
    note: str = ""
    bucket_count: int | None = None
    buckets: tuple[int, ...] | None = None  # bucket strategy: only these buckets are read
    equal_rows: int = 0  # rows in buckets found equal (never read)
    digests: tuple[SideDigest, SideDigest] | None = None  # the whole tables' digests, when computed

    def apply(self, result: dict[str, Any]) -> dict[str, Any]:
        """Add the strategy to a table result; count the rows of equal buckets as matched."""
        out = {**result, "strategy": self.strategy, "strategy_note": self.note, "digests": self.digests}
        if self.equal_rows:
            for name in ("source_rows", "target_rows", "matched_rows"):
                out[name] = result[name] + self.equal_rows
        return out


def _estimate(
    plan: TablePlan, readers: tuple[SideReader, SideReader], partition: tuple[int, int] | None
) -> int | None:
    """The larger side's estimated rows in the slice read (each side's connector asked once)."""
    estimates = [rows for r in readers if (rows := _estimate_side(r)) is not None]
    if not estimates:
        return None
    rows = max(estimates)
    if partition is None:
        return rows
    if plan.keyless:  # every row is in partition 0
        return rows if partition[0] == 0 else 0
    return rows // partition[1]


def _estimate_side(reader: SideReader) -> int | None:
    try:
        return reader.connector.estimate_rows(reader.table)
    except TableNotFoundError:  # introspected already: a view or another relation without statistics
        return None


def choose_strategy(
    requested: str,
    plan: TablePlan,
    readers: tuple[SideReader, SideReader],
    *,
    partition: tuple[int, int] | None = None,
    bucket_rows: int = bucket.ROWS_PER_BUCKET,
    forced_by: str = "the spec",
) -> Choice:
    """The strategy for one table; ``forced_by`` names where a requested strategy came from."""
    if requested not in STRATEGIES:
        raise BadInputError(
            f"unknown reconciliation strategy {requested!r}; choose one of {', '.join(STRATEGIES)}"
        )
    forced = f"forced by {forced_by}"
    if requested == "arrow":
        return Choice("arrow", note=forced)
    pushed = pushed_columns(plan, readers)
    if requested == "pushdown":
        return Choice("pushdown", pushed, note=forced)
    if requested == "bucket":
        reason = bucket.ineligible_reason(plan, readers, pushed)
        if reason is not None:
            return Choice("pushdown", pushed, note=f"bucket checksums not usable: {reason}")
        rows = _estimate(plan, readers, partition)
        return _bucketed(plan, readers, pushed, bucket.bucket_count_for(rows or 0, bucket_rows), partition)
    if all(r.dialect is None for r in readers):
        return Choice("arrow", note="neither engine hashes rows in SQL")
    if plan.keyless:
        return Choice("arrow", note="the table has no key: compared as multisets")
    rows = _estimate(plan, readers, partition)
    if rows is not None and rows < SMALL_TABLE_ROWS:
        return Choice("arrow", note=f"small table (about {rows} rows)")
    size = f"about {rows} rows" if rows is not None else "size unknown"
    # A side whose SQL hashing costs more than sending its values (``Dialect.hashes_slowly``): the
    # automatic choice streams both sides' values; a strategy forced by the spec or --strategy
    # still hashes there.
    slow = sorted(r.side for r in readers if r.dialect is not None and r.dialect.hashes_slowly)
    if slow:
        # Its rows would be hashed on our side anyway; the other side's SQL hash would only add
        # a canonical-text digest per row to the other database's work.
        return Choice("arrow", note=f"{size}; the {slow[0]} hashes rows slowly in SQL")
    if rows is None or rows < BUCKET_TABLE_ROWS:
        return Choice("pushdown", pushed, note=size)
    reason = bucket.ineligible_reason(plan, readers, pushed)
    if reason is None:
        return _bucketed(plan, readers, pushed, bucket.bucket_count_for(rows, bucket_rows), partition)
    return Choice("pushdown", pushed, note=f"{size}; bucket checksums not usable: {reason}")


def _bucketed(
    plan: TablePlan,
    readers: tuple[SideReader, SideReader],
    pushed: frozenset[int],
    count: int,
    partition: tuple[int, int] | None,
) -> Choice:
    outcome = bucket.compare_buckets(readers, plan, pushed, count, Slice(partition=partition))
    digests = None
    if partition is None:  # the buckets cover each whole table: their XORs are its digest
        source, target = (
            tablesum.from_buckets(summary, reader=reader, plan=plan, pushed=pushed)
            for summary, reader in zip(outcome.summaries, readers, strict=True)
        )
        digests = (source, target)
    differing = len(outcome.differing)
    note = f"{differing} of {count} buckets differ ({outcome.differing_share:.2%} of rows read row by row)"
    if outcome.differing_share > bucket.REFINE_ALL_SHARE:
        return Choice("bucket", pushed, note=f"{note}: every row read", bucket_count=count, digests=digests)
    return Choice(
        "bucket",
        pushed,
        note=note,
        bucket_count=count,
        buckets=outcome.differing,
        equal_rows=outcome.equal_rows,
        digests=digests,
    )
