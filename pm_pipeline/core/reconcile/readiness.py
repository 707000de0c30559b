"""Whether a table's stored key-hash buckets can be combined into its reconciliation, and the
combination itself.

A partitioned table is reconciled one bucket at a time, at different times, possibly under other
settings than the spec holds now. Combining reads only those stored results, never the databases,
so it refuses results that no longer describe the table as the spec defines it: missing buckets,
buckets cut for another count, buckets reconciled under other settings (each result carries a
digest of them, see :func:`~pm_pipeline.core.reconcile.combine.settings_digest`), and a half-done
re-check (some buckets reconciled again since the previous combination, others not). Each refusal
names the buckets and what to run again; the orchestrator's names for "the buckets' asset" and
"the buckets' job" are passed in as :class:`BucketNames`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pm_pipeline.core.config import MigrationSpec, TableMapping
from pm_pipeline.core.findings import Category, Finding, Severity, TableReconciliation, not_compared
from pm_pipeline.core.reconcile.combine import combine_partitions, settings_digest
from pm_pipeline.core.reconcile.engine import ReconcileOptions


@dataclass(frozen=True)
class BucketReconciliation:
    """One bucket's reconciliation, with the bucketing it was cut by (the spec's count may change),
    when it ran (UTC, ISO 8601) and the digest of the settings it ran with. Results stored before
    ``ran_at`` and ``settings`` were recorded read them as ""."""

    bucket: int
    buckets: int
    result: TableReconciliation
    ran_at: str = ""
    settings: str = ""


@dataclass(frozen=True)
class BucketNames:
    """How the person who must act finds the buckets: the partitioned asset and the job that runs them."""

    asset: str
    job: str


class BucketsNotReady(Exception):
    """The stored buckets of a table cannot be combined into its reconciliation as the spec has it."""

    def __init__(
        self, table: str, problems: Sequence[str], *, missing: Sequence[str], stale: Sequence[str]
    ) -> None:
        super().__init__("\n".join(f"{table}: {problem}" for problem in problems))
        self.problems = tuple(problems)
        self.missing = tuple(missing)
        self.stale = tuple(stale)


@dataclass(frozen=True)
class PreviousCombination:
    """The table's last combination: when it was materialized and each bucket's ``ran_at`` it used."""

    at: str
    inputs: Mapping[str, str]


def _named(indices: Sequence[str]) -> str:
    return f"bucket {indices[0]}" if len(indices) == 1 else f"buckets {', '.join(indices)}"


def _was(indices: Sequence[str]) -> str:
    return "was" if len(indices) == 1 else "were"


def check_buckets(
    mapping: TableMapping,
    count: int,
    buckets: Mapping[str, BucketReconciliation],
    *,
    settings: str,
    previous: PreviousCombination | None,
    names: BucketNames,
) -> None:
    """Raise :class:`BucketsNotReady` naming every bucket that cannot be combined, and why."""
    asset = names.asset
    table = mapping.source
    problems: list[str] = []
    missing = [str(index) for index in range(count) if str(index) not in buckets]
    if missing:
        problems.append(
            f"bucket(s) {', '.join(missing)} of {count} have not been reconciled; "
            f"materialize every partition of {asset} first "
            f"(a backfill, or the job {names.job})"
        )
    present = sorted(buckets, key=int)
    recut = [key for key in present if (buckets[key].bucket, buckets[key].buckets) != (int(key), count)]
    if recut:
        problems.append(
            f"bucket(s) {', '.join(recut)} were reconciled with another number of buckets "
            f"than the spec's {count}; materialize every partition of {asset} again"
        )
    cut = [key for key in present if key not in recut]
    unrecorded = [key for key in cut if not buckets[key].settings]
    if unrecorded:
        problems.append(
            f"{_named(unrecorded)} {_was(unrecorded)} reconciled by a version that did not record "
            f"its settings; materialize partition(s) {', '.join(unrecorded)} of {asset} again"
        )
    changed = [key for key in cut if buckets[key].settings and buckets[key].settings != settings]
    if changed:
        problems.append(
            f"settings changed since {_named(changed)} ran (the mapping, the tolerated "
            "categories, an endpoint or the clearance is not what the spec says now, or the "
            "bucket was stored by a release that recorded its result differently); materialize "
            f"partition(s) {', '.join(changed)} of {asset} again"
        )
    stale = recut + unrecorded + changed
    if not missing and not stale and previous is not None:
        # Not newer than what the previous combination used, while other buckets are: a re-check
        # that has not reached every bucket (still running, or some of its runs failed).
        reused = [
            key for key in present if key in previous.inputs and buckets[key].ran_at <= previous.inputs[key]
        ]
        again = [key for key in present if key not in reused]
        if reused and again:
            problems.append(
                f"{_named(reused)} {_was(reused)} already combined on {previous.at} while "
                f"{_named(again)} {_was(again)} reconciled again since: the table's re-check is "
                f"incomplete; materialize partition(s) {', '.join(reused)} of {asset} again"
            )
            stale += reused
    if problems:
        raise BucketsNotReady(table, problems, missing=missing, stale=sorted(set(stale), key=int))


def combine_buckets(
    spec: MigrationSpec,
    mapping: TableMapping,
    count: int,
    buckets: Mapping[str, BucketReconciliation],
    *,
    previous: PreviousCombination | None,
    names: BucketNames,
) -> TableReconciliation:
    """The table's reconciliation from its buckets (``mapping`` as the spec has it now), or
    :class:`BucketsNotReady`."""
    check_buckets(
        mapping, count, buckets, settings=settings_digest(spec, mapping), previous=previous, names=names
    )
    parts = [buckets[str(index)] for index in range(count)]
    result = combine_partitions(
        [part.result for part in parts],
        thresholds=spec.thresholds,
        findings_limit=ReconcileOptions().findings_limit,
    )
    times = sorted(part.ran_at for part in parts)
    ran = f"{count} buckets reconciled between {times[0]} and {times[-1]}"
    note = f"{ran}; {result.strategy_note}" if result.strategy_note else ran
    return dataclasses.replace(result, strategy_note=note)


def not_reconciled(mapping: TableMapping, reason: str) -> TableReconciliation:
    """The table marked as not reconciled, with the reason, so that the report can still show it."""
    finding = Finding(
        table=mapping.source,
        category=Category.TABLE_MISSING,
        severity=Severity.ERROR,
        message=f"{mapping.source} has not been reconciled: {reason}",
        check="reconciliation",
    )
    return not_compared(
        table=mapping.source,
        target_table=mapping.target_name,
        finding=finding,
        strategy="not reconciled",
        key_columns=tuple(mapping.key or ()),
        note=reason,
    )
