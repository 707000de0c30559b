"""Which strategy reconciles a table: by size, engines, keys, column rules and the difference rate.

``auto`` picks:
    arrow     when neither engine can hash in SQL, or the table is small (a single pass with
              no pushdown is then the cheapest);
    bucket    for large tables with a unique key whose every compared column the engines can
              hash or bin in SQL: when differences are rare most buckets are equal and skipped;
    pushdown  otherwise.
The bucket strategy measures the difference rate in its first pass: past a share of differing
rows, filtering by bucket saves nothing, so every row is read (as in pushdown). A strategy the
spec forces but the table cannot use falls back to pushdown, with the reason in the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.reconcile import bucket
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
    local_sides: frozenset[str] = frozenset()  # sides whose pushed columns are hashed on our side

    def apply(self, result: dict[str, Any]) -> dict[str, Any]:
        """Add the strategy to a table result; count the rows of equal buckets as matched."""
        out = {**result, "strategy": self.strategy, "strategy_note": self.note}
        if self.equal_rows:
            for name in ("source_rows", "target_rows", "matched_rows"):
                out[name] = result[name] + self.equal_rows
        return out


def _estimate(readers: tuple[SideReader, SideReader], partition: tuple[int, int] | None) -> int | None:
    estimates = [r.schema.row_count_estimate for r in readers if r.schema.row_count_estimate is not None]
    if not estimates:
        return None
    rows = max(estimates)
    return rows // partition[1] if partition else rows


def choose_strategy(
    requested: str,
    plan: TablePlan,
    readers: tuple[SideReader, SideReader],
    *,
    partition: tuple[int, int] | None = None,
    bucket_rows: int = bucket.ROWS_PER_BUCKET,
) -> Choice:
    if requested not in STRATEGIES:
        raise BadInputError(
            f"unknown reconciliation strategy {requested!r}; choose one of {', '.join(STRATEGIES)}"
        )
    if requested == "arrow":
        return Choice("arrow", note="forced by the spec")
    pushed = pushed_columns(plan, readers)
    rows = _estimate(readers, partition)
    if requested == "auto":
        if all(r.dialect is None for r in readers):
            return Choice("arrow", note="neither engine hashes rows in SQL")
        if plan.keyless:
            return Choice("arrow", note="the table has no key: compared as multisets")
        if rows is not None and rows < SMALL_TABLE_ROWS:
            return Choice("arrow", note=f"small table (about {rows} rows)")
        slow = sorted(r.side for r in readers if r.connector.engine in _HASH_LOCALLY)
        if slow:
            # Its rows are hashed on our side anyway; the other side's SQL hash would only add a
            # canonical-text digest per row to the other database's work.
            return Choice("arrow", note=f"about {rows} rows; the {slow[0]} hashes rows slowly in SQL")
        if rows is None or rows < BUCKET_TABLE_ROWS:
            note = f"about {rows} rows" if rows is not None else "size unknown"
            return _pushdown(readers, pushed, note)
    if requested in ("auto", "bucket"):
        reason = bucket.ineligible_reason(plan, readers, pushed)
        if reason is None:
            return _bucketed(
                plan, readers, pushed, bucket.bucket_count_for(rows or 0, bucket_rows), partition
            )
        if requested == "bucket":
            return Choice("pushdown", pushed, note=f"bucket checksums not usable: {reason}")
        return _pushdown(readers, pushed, f"about {rows} rows; bucket checksums not usable: {reason}")
    return Choice("pushdown", pushed, note="forced by the spec" if requested == "pushdown" else "")


# Engines whose SQL hashing costs more than sending the values (MariaDB's MD5 and string
# building run at a fraction of the rate of a plain read): the automatic choice streams both
# sides' values; a spec that forces pushdown or bucket still hashes there.
_HASH_LOCALLY = {"mysql"}


def _pushdown(readers: tuple[SideReader, SideReader], pushed: frozenset[int], note: str) -> Choice:
    local = frozenset(r.side for r in readers if r.connector.engine in _HASH_LOCALLY)
    if local:
        note += f"; {', '.join(sorted(local))} rows hashed on our side"
    return Choice("pushdown", pushed, note=note, local_sides=local)


def _bucketed(
    plan: TablePlan,
    readers: tuple[SideReader, SideReader],
    pushed: frozenset[int],
    count: int,
    partition: tuple[int, int] | None,
) -> Choice:
    outcome = bucket.compare_buckets(readers, plan, pushed, count, Slice(partition=partition))
    differing = len(outcome.differing)
    note = f"{differing} of {count} buckets differ ({outcome.differing_share:.2%} of rows read row by row)"
    if outcome.differing_share > bucket.REFINE_ALL_SHARE:
        return Choice("bucket", pushed, note=f"{note}: every row read", bucket_count=count)
    return Choice(
        "bucket",
        pushed,
        note=note,
        bucket_count=count,
        buckets=outcome.differing,
        equal_rows=outcome.equal_rows,
    )
