"""Findings: the typed results every check produces and every report and Dagster metadata views.

A finding is one fact a user must know about ("row id=7 is missing in the target", "column
email lost its NOT NULL"). Its values are already JSON-ready (text, numbers, booleans, null), so
every report format can show them without knowing the engines.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pm_pipeline.core.config.spec import Classification

FINDINGS_SCHEMA_VERSION = (
    "2.2"  # 2.1: performance categories and their optional `query`; 2.2: `side`, `count`
)


class Category(StrEnum):
    # rows and values (reconciliation)
    MISSING_ROW = "missing_row"
    EXTRA_ROW = "extra_row"
    DUPLICATE_KEY = "duplicate_key"
    VALUE_MISMATCH = "value_mismatch"
    UNREADABLE_VALUE = "unreadable_value"  # a value that cannot be read as its column's type
    TABLE_MISSING = "table_missing"
    # schema
    COLUMN_MISSING = "column_missing"
    COLUMN_EXTRA = "column_extra"
    COLUMN_RENAMED = "column_renamed"
    TYPE_CHANGED = "type_changed"
    TYPE_NARROWED = "type_narrowed"
    TYPE_INCOMPATIBLE = "type_incompatible"
    NULLABILITY_CHANGED = "nullability_changed"
    DEFAULT_MISSING = "default_missing"
    PRIMARY_KEY_MISSING = "primary_key_missing"
    CONSTRAINT_MISSING = "constraint_missing"
    INDEX_MISSING = "index_missing"
    FOREIGN_KEY_MISSING = "foreign_key_missing"
    SEQUENCE_BEHIND = "sequence_behind"
    # integrity
    ORPHAN_ROW = "orphan_row"
    RULE_VIOLATION = "rule_violation"
    TEMPORAL_VIOLATION = "temporal_violation"
    SYSTEMATIC_SHIFT = "systematic_shift"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    EXPECTATION_FAILED = "expectation_failed"
    # performance (a workload query timed and explained on both sides)
    QUERY_REGRESSION = "query_regression"
    PLAN_REGRESSION = "plan_regression"
    RESULT_MISMATCH = "result_mismatch"
    INDEX_ADVICE = "index_advice"
    # a check that could not run to the end (an SQL or driver error): the verdict is incomplete
    CHECK_ERROR = "check_error"


ROW_CATEGORIES = frozenset(
    {Category.MISSING_ROW, Category.EXTRA_ROW, Category.DUPLICATE_KEY, Category.VALUE_MISMATCH}
)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


JsonValue = str | int | float | bool | None | list[Any] | dict[str, Any]


def json_value(value: Any) -> JsonValue:
    """Turn a value read from any engine into a JSON-ready value without losing information."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(v) for v in value]
    return str(value)


@dataclass(frozen=True)
class Finding:
    """One thing found. ``key`` is null for table- and schema-level findings."""

    table: str
    category: Category
    severity: Severity
    column: str | None = None
    key: dict[str, JsonValue] | None = None
    source_value: JsonValue = None
    target_value: JsonValue = None
    source_canonical: JsonValue = None
    target_canonical: JsonValue = None
    rule: str | None = None
    message: str = ""
    classification: Classification | None = None
    check: str = "reconciliation"  # which feature produced it: reconciliation, schema, integrity, ...
    # A consequence of other findings on the same table (and column), named by their category:
    # reported, folded under its cause, and never counted as another error.
    caused_by: str | None = None
    query: str | None = None  # the performance workload entry; written to JSON only when set
    # The side a finding counts on and how many: a duplicated key (the side holding it, how many
    # times), a keyless table's surplus rows (the side having more, how many rows). Written to
    # JSON only when set, like ``query``.
    side: Literal["source", "target"] | None = None
    count: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for optional in ("query", "side", "count"):
            if data[optional] is None:
                del data[optional]
        data["category"] = str(self.category)
        data["severity"] = str(self.severity)
        data["classification"] = None if self.classification is None else str(self.classification)
        return data


@dataclass(frozen=True)
class ColumnStats:
    """How one compared column fared over the rows present on both sides."""

    column: str
    target_column: str
    compared: int = 0
    exact: int = 0
    equal_under_rule: Mapping[str, int] = field(default_factory=dict)
    mismatched: int = 0
    null_source_only: int = 0
    null_target_only: int = 0
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    rule: str | None = None


@dataclass(frozen=True)
class SideDigest:
    """One side's whole-table digest, computed by the reconciliation's own pass (no second read).

    ``recipe`` holds what recomputes it later (``integrity.checksum.recompute``): the algorithm's
    parameters, never values.
    """

    algorithm: str
    rows: int
    checksum: str
    recipe: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ColumnFacts:
    """What the reconciliation's reading pass learned of some columns, by source name: each side's
    repeated canonical values (present values minus distinct hashes, or the first batch's count as
    a lower bound; 0 only from the whole table, proving them distinct), and the source's distinct
    values (canonical text) of unclassified columns holding at most ``value_set_max``."""

    repeats: tuple[Mapping[str, int], Mapping[str, int]]
    source_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class TableReconciliation:
    """Everything reconciliation found for one mapped table."""

    table: str
    target_table: str
    key_columns: tuple[str, ...]
    keyless: bool
    source_rows: int
    target_rows: int
    matched_rows: int
    missing_rows: int
    extra_rows: int
    duplicate_keys_source: int
    duplicate_keys_target: int
    changed_rows: int
    rows_equal_under_rule: int
    compared_columns: int
    columns: tuple[ColumnStats, ...]
    findings: tuple[Finding, ...]
    strategy: str
    seconds: float
    findings_truncated: bool = False
    diff_path: str | None = None
    strategy_note: str = ""  # why the strategy was chosen (size, engines, differing buckets)
    # Each side's whole-table digest when the strategy computed one on its way (source, target).
    digests: tuple[SideDigest, SideDigest] | None = None
    # What the reading pass learned of some columns, when it read both tables whole and was asked
    # (``ReconcileOptions.count_repeats``): the generated expectations need no scan for it.
    column_facts: ColumnFacts | None = field(default=None, compare=False)
    # When the comparison ran (UTC): the evidence pack's "what was checked, and when". Two results
    # of the same comparison are equal whenever they ran.
    started_at: dt.datetime | None = field(default=None, compare=False)
    finished_at: dt.datetime | None = field(default=None, compare=False)

    @property
    def match_score(self) -> float:
        return match_score(
            matched_rows=self.matched_rows,
            missing_rows=self.missing_rows,
            extra_rows=self.extra_rows,
            mismatched_cells=sum(col.mismatched for col in self.columns),
            compared_columns=self.compared_columns,
        )

    @property
    def passed(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


def match_score(
    *, matched_rows: int, missing_rows: int, extra_rows: int, mismatched_cells: int, compared_columns: int
) -> float:
    """Cell-level match score: the share of compared cells that are equal (exactly or under a rule).

    cells = (matched + missing + extra rows) x compared columns; every cell of a missing or extra
    row counts as unequal. An empty comparison scores 1.0.
    """
    width = max(compared_columns, 1)
    cells = (matched_rows + missing_rows + extra_rows) * width
    if cells == 0:
        return 1.0
    bad = mismatched_cells + (missing_rows + extra_rows) * width
    return max(0.0, (cells - bad) / cells)


def overall_match_score(tables: Iterable[TableReconciliation]) -> float:
    """Cell-weighted match score over several tables."""
    cells = bad = 0
    for table in tables:
        width = max(table.compared_columns, 1)
        rows = table.matched_rows + table.missing_rows + table.extra_rows
        cells += rows * width
        bad += sum(col.mismatched for col in table.columns) + (table.missing_rows + table.extra_rows) * width
    return 1.0 if cells == 0 else max(0.0, (cells - bad) / cells)


@dataclass(frozen=True)
class NotCompared(TableReconciliation):
    """A table none of whose rows were compared (its reconciliation stopped, or its buckets cannot
    be combined): it scores 0, and its one finding says why."""

    @property
    def match_score(self) -> float:
        return 0.0


def not_compared(
    *,
    table: str,
    target_table: str,
    finding: Finding,
    strategy: str,
    key_columns: tuple[str, ...] = (),
    note: str | None = None,
) -> NotCompared:
    """The result of a table that could not be compared, carrying ``finding`` (the reason)."""
    return NotCompared(
        table=table,
        target_table=target_table,
        key_columns=key_columns,
        keyless=False,
        source_rows=0,
        target_rows=0,
        matched_rows=0,
        missing_rows=0,
        extra_rows=0,
        duplicate_keys_source=0,
        duplicate_keys_target=0,
        changed_rows=0,
        rows_equal_under_rule=0,
        compared_columns=0,
        columns=(),
        findings=(finding,),
        strategy=strategy,
        seconds=0.0,
        strategy_note=finding.message if note is None else note,
    )
