"""Combining bucket reconciliations: a table reconciled in 4 key-hash buckets and combined equals the
same table reconciled whole (counts, findings and their severities, column statistics), and the
arithmetic of combining (sums, maxima, limits, severities from the table's totals) on its own."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from pm_pipeline.core.canonical.values import Side
from pm_pipeline.core.config.loader import spec_from_mapping
from pm_pipeline.core.config.spec import ColumnRule, MigrationSpec, TableMapping, Thresholds
from pm_pipeline.core.findings import Category, ColumnStats, Finding, Severity, TableReconciliation
from pm_pipeline.core.reconcile import ReconcileOptions, combine
from pm_pipeline.core.reconcile.combine import combine_partitions, settings_digest, slice_thresholds
from pm_pipeline.core.reconcile.engine import keyless_message

from .engines import KINDS, Col, DuckSide, Pair

BUCKETS = 4
COLUMNS = [Col("id", "bigint"), Col("amount", "dec"), Col("note", "text"), Col("qty", "int")]
# Thresholds on either side of the seeded counts: 3 missing rows exceed 2 (an error), 3 changed rows
# stay within 5 (warnings), so a slice's own counts would decide wrongly in both directions.
THRESHOLDS = Thresholds(max_missing_rows=2, max_changed_rows=5, max_extra_rows=0)


def _rows() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    source = [(i, decimal.Decimal(i) / 4, f"note {i}", i % 7) for i in range(1, 401)]
    target = [row for row in source if row[0] not in (5, 77, 301)]  # lost rows
    target += [(401, decimal.Decimal("1"), "new", 1), (402, decimal.Decimal("2"), "new", 2)]  # extra rows
    edits = {
        10: lambda r: (r[0], r[1], "note ten", r[3]),  # changed text
        20: lambda r: (r[0], r[1], r[2], 99),  # changed integer
        30: lambda r: (r[0], r[1] + decimal.Decimal("0.003"), r[2], r[3]),  # within the tolerance
        40: lambda r: (r[0], r[1] + decimal.Decimal("0.5"), r[2], r[3]),  # beyond it
    }
    target = [edits[r[0]](r) if r[0] in edits else r for r in target]
    target.append((50, decimal.Decimal("9"), "twin", 1))  # a duplicate key in the target
    source.append((60, decimal.Decimal("9"), "twin", 1))  # and one in the source
    return source, target


def _duckdb(path: Path, rows: list[tuple[Any, ...]]) -> None:
    columns = list(zip(*rows, strict=True))
    data = pa.table(
        {
            c.name: pa.array(values, KINDS[c.kind]["parquet"])
            for c, values in zip(COLUMNS, columns, strict=True)
        }
    )
    declared = ", ".join(f"{c.name} {KINDS[c.kind]['duck']}" for c in COLUMNS)
    with duckdb.connect(str(path)) as conn:
        conn.register("data", data)
        for table in ("orders", "events"):  # the same rows, compared with and without a key
            conn.execute(f"CREATE TABLE {table} ({declared})")
            conn.execute(f"INSERT INTO {table} SELECT * FROM data")


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    pair = Pair("duckdb->duckdb", DuckSide(tmp_path / "source.duckdb"), DuckSide(tmp_path / "target.duckdb"))
    source, target = _rows()
    _duckdb(pair.source.path, source)  # type: ignore[attr-defined]
    _duckdb(pair.target.path, target)  # type: ignore[attr-defined]
    return pair


def _finding_keys(result: TableReconciliation) -> list[tuple[str, str, str | None, str]]:
    return sorted(
        (str(f.category), json.dumps(f.key, sort_keys=True), f.column, str(f.severity))
        for f in result.findings
    )


def _counts(result: TableReconciliation) -> dict[str, Any]:
    # Everything but the findings and columns (compared on their own), the timing, and the note on
    # why a strategy was chosen (which names each slice's size).
    left_out = {"columns", "findings", "seconds", "started_at", "finished_at", "strategy_note"}
    values = {f.name: getattr(result, f.name) for f in dataclasses.fields(result) if f.name not in left_out}
    return values | {"match_score": result.match_score}


KEYED = TableMapping(source="orders", key=["id"], columns={"amount": ColumnRule(abs_tolerance=0.005)})


@pytest.mark.parametrize(
    ("mapping", "strategy"),
    [
        # The common case: a keyed table with lost, extra, duplicated and edited rows, read as Arrow.
        (KEYED, "arrow"),
        # Large tables hash in the database: each slice pushes its bucket filter down.
        (KEYED, "pushdown"),
        # ... or compares bucket checksums inside the slice first.
        (KEYED, "bucket"),
        # A table without a key is compared as a multiset, whatever bucket its rows fall into.
        (TableMapping(source="events", key=[]), "auto"),
    ],
    ids=["keyed-arrow", "keyed-pushdown", "keyed-bucket", "keyless"],
)
def test_four_buckets_combined_equal_the_whole_table(
    pair: Pair, mapping: TableMapping, strategy: str
) -> None:
    whole = pair.reconcile(mapping, options=ReconcileOptions(thresholds=THRESHOLDS, strategy=strategy))
    sliced = ReconcileOptions(thresholds=slice_thresholds(THRESHOLDS), strategy=strategy)
    parts = [
        pair.reconcile(mapping, options=dataclasses.replace(sliced, partition=(index, BUCKETS)))
        for index in range(BUCKETS)
    ]
    combined = combine_partitions(parts, thresholds=THRESHOLDS)
    assert _counts(combined) == _counts(whole)
    # Each run records when it ran; the combination spans its buckets' runs.
    assert whole.started_at is not None and whole.finished_at is not None
    assert whole.started_at <= whole.finished_at <= parts[0].started_at  # type: ignore[operator]
    assert combined.started_at == parts[0].started_at and combined.finished_at == parts[-1].finished_at
    assert _finding_keys(combined) == _finding_keys(whole)
    assert combined.columns == whole.columns
    assert [f.message for f in combined.findings if f.key is None] == [
        f.message for f in whole.findings if f.key is None
    ]
    if mapping.key:
        assert sum(1 for p in parts if p.source_rows) == BUCKETS  # the keys really were spread
        assert whole.missing_rows == 3 and whole.changed_rows == 3 and whole.duplicate_keys_target == 1
        assert [f.severity for f in combined.findings if f.category is Category.MISSING_ROW] == [
            Severity.ERROR
        ] * 3
        assert {f.severity for f in combined.findings if f.category is Category.VALUE_MISMATCH} == {
            Severity.WARNING
        }


# -- the arithmetic, on hand-made slices ------------------------------------------------------------


def _part(**overrides: Any) -> TableReconciliation:
    base: dict[str, Any] = {
        "table": "orders",
        "target_table": "orders",
        "key_columns": ("id",),
        "keyless": False,
        "source_rows": 10,
        "target_rows": 10,
        "matched_rows": 10,
        "missing_rows": 0,
        "extra_rows": 0,
        "duplicate_keys_source": 0,
        "duplicate_keys_target": 0,
        "changed_rows": 0,
        "rows_equal_under_rule": 0,
        "compared_columns": 1,
        "columns": (ColumnStats(column="amount", target_column="amount", compared=10, exact=10),),
        "findings": (),
        "strategy": "arrow-hash",
        "seconds": 1.0,
    }
    return TableReconciliation(**(base | overrides))


def _missing(key: int, severity: Severity = Severity.ERROR) -> Finding:
    return Finding(table="orders", category=Category.MISSING_ROW, severity=severity, key={"id": key})


def _amount(**statistics: Any) -> ColumnStats:
    """The statistics of the column amount, compared with the target's amt."""
    return ColumnStats(column="amount", target_column="amt", **statistics)


def test_counts_add_up_and_column_statistics_merge() -> None:
    rule = "abs_tolerance=0.01"
    first = _amount(
        compared=10, exact=7, equal_under_rule={rule: 2}, mismatched=1, null_source_only=1, max_abs_diff=0.5,
        rule=rule,
    )  # fmt: skip
    second = _amount(
        compared=12, exact=10, equal_under_rule={rule: 1}, mismatched=1, null_target_only=2, max_abs_diff=0.25,
        max_rel_diff=0.1,
    )  # fmt: skip
    a = _part(columns=(first,), strategy="pushdown", seconds=2.0, diff_path="/r/diffs/orders/bucket=0/orders")
    b = _part(source_rows=12, columns=(second,), seconds=0.5, diff_path="/r/diffs/orders/bucket=1/orders")
    combined = combine_partitions([a, b], thresholds=Thresholds())
    assert combined.source_rows == 22 and combined.matched_rows == 20
    assert combined.columns == (
        _amount(
            compared=22, exact=17, equal_under_rule={rule: 3}, mismatched=2, null_source_only=1,
            null_target_only=2, max_abs_diff=0.5, max_rel_diff=0.1, rule=rule,
        ),
    )  # fmt: skip
    assert combined.strategy == "arrow-hash+pushdown"
    assert combined.seconds == 2.5
    assert combined.diff_path == "/r/diffs/orders"


def test_a_combination_spans_its_buckets_runs_even_out_of_order() -> None:
    at = dt.datetime(2026, 1, 5, 3, 0, tzinfo=dt.UTC)
    late = _part(started_at=at + dt.timedelta(hours=2), finished_at=at + dt.timedelta(hours=2, seconds=4))
    early = _part(started_at=at, finished_at=at + dt.timedelta(seconds=3))
    untimed = _part()  # a bucket stored before results carried their times
    combined = combine_partitions([late, untimed, early], thresholds=Thresholds())
    assert (combined.started_at, combined.finished_at) == (at, at + dt.timedelta(hours=2, seconds=4))
    assert combine_partitions([untimed], thresholds=Thresholds()).started_at is None


def test_severities_follow_the_tables_totals_not_the_slices() -> None:
    parts = [_part(missing_rows=1, findings=(_missing(i),)) for i in range(3)]
    within = combine_partitions(parts, thresholds=Thresholds(max_missing_rows=3))
    assert [f.severity for f in within.findings] == [Severity.WARNING] * 3
    beyond = combine_partitions(parts, thresholds=Thresholds(max_missing_rows=2))
    assert [f.severity for f in beyond.findings] == [Severity.ERROR] * 3
    assert not beyond.passed


# What a stored bucket's finding says when its message quoted a value above the clearance.
REDACTED = "[message redacted: it quotes values above the report's clearance]"


def _duplicate(key: int, side: Side, message: str | None = None) -> Finding:
    return Finding(
        table="orders",
        category=Category.DUPLICATE_KEY,
        severity=Severity.ERROR,
        key={"id": key},
        message=f"key appears 2 times in the {side}" if message is None else message,
        side=side,
        count=2,
    )


def test_duplicate_keys_are_judged_per_side() -> None:
    parts = [
        _part(duplicate_keys_source=1, findings=(_duplicate(1, "source"),)),
        _part(duplicate_keys_target=2, findings=(_duplicate(2, "target"), _duplicate(3, "target"))),
    ]
    combined = combine_partitions(parts, thresholds=Thresholds(max_duplicate_keys=1))
    by_key = {f.key["id"]: f.severity for f in combined.findings if f.key}
    assert by_key == {1: Severity.WARNING, 2: Severity.ERROR, 3: Severity.ERROR}


def test_the_side_of_a_duplicate_key_is_read_from_the_finding_not_its_message() -> None:
    # Stored buckets are redacted for the report's clearance: a hidden key whose value the message
    # happens to quote ("key appears 2 times ..." for id 2) loses the message, never the side.
    parts = [
        _part(duplicate_keys_source=1, findings=(_duplicate(1, "source", REDACTED),)),
        _part(
            duplicate_keys_target=2,
            findings=(_duplicate(2, "target", REDACTED), _duplicate(3, "target", REDACTED)),
        ),
    ]
    combined = combine_partitions(parts, thresholds=Thresholds(max_duplicate_keys=1))
    by_key = {f.key["id"]: (f.side, f.severity) for f in combined.findings if f.key}
    assert by_key == {
        1: ("source", Severity.WARNING),  # 1 source duplicate: within the limit
        2: ("target", Severity.ERROR),  # 2 target duplicates: beyond it
        3: ("target", Severity.ERROR),
    }
    # The findings limit holds per side: one finding of each side is kept, and the cut is said.
    limited = combine_partitions(parts, thresholds=Thresholds(), findings_limit=1)
    assert [(f.key, f.side) for f in limited.findings] == [({"id": 1}, "source"), ({"id": 2}, "target")]
    assert limited.findings_truncated


def test_tolerated_findings_stay_warnings() -> None:
    parts = [_part(missing_rows=1, findings=(_missing(1, Severity.WARNING),)) for _ in range(3)]
    combined = combine_partitions(parts, thresholds=Thresholds(max_missing_rows=0))
    assert {f.severity for f in combined.findings} == {Severity.WARNING}


def test_findings_are_limited_per_category_and_the_truncation_said() -> None:
    parts = [_part(missing_rows=2, findings=(_missing(2 * i), _missing(2 * i + 1))) for i in range(3)]
    combined = combine_partitions(parts, thresholds=Thresholds(), findings_limit=4)
    assert [f.key for f in combined.findings] == [{"id": i} for i in range(4)]
    assert combined.missing_rows == 6 and combined.findings_truncated
    assert not combine_partitions(parts, thresholds=Thresholds(), findings_limit=6).findings_truncated


def test_keyless_slices_sum_into_one_finding_per_direction() -> None:
    def surplus(count: int, side: Side) -> Finding:
        return Finding(
            table="events",
            category=Category.MISSING_ROW if side == "source" else Category.EXTRA_ROW,
            severity=Severity.ERROR,
            message=keyless_message(side, count),
            side=side,
            count=count,
        )

    parts = [
        _part(keyless=True, key_columns=(), missing_rows=2, findings=(surplus(2, "source"),)),
        _part(
            keyless=True,
            key_columns=(),
            missing_rows=3,
            extra_rows=1,
            findings=(surplus(3, "source"), surplus(1, "target")),
        ),
    ]
    combined = combine_partitions(parts, thresholds=Thresholds(max_extra_rows=1))
    assert [(f.category, f.severity, f.side, f.count, f.message) for f in combined.findings] == [
        (
            Category.MISSING_ROW,
            Severity.ERROR,
            "source",
            5,
            "5 row(s) occur more often in the source than in the target (table has no key: compared as multisets)",
        ),
        (
            Category.EXTRA_ROW,
            Severity.WARNING,
            "target",
            1,
            "1 row(s) occur more often in the target than in the source (table has no key: compared as multisets)",
        ),
    ]


def test_a_truncated_slice_makes_the_table_truncated() -> None:
    parts = [_part(), _part(findings_truncated=True)]
    assert combine_partitions(parts, thresholds=Thresholds()).findings_truncated


def test_slices_of_different_tables_or_none_at_all_are_refused() -> None:
    with pytest.raises(ValueError, match="different tables: orders -> orders and items -> items"):
        combine_partitions([_part(), _part(table="items", target_table="items")], thresholds=Thresholds())
    with pytest.raises(ValueError, match="no partitions"):
        combine_partitions([], thresholds=Thresholds())


def test_slice_thresholds_zero_every_count_limit_and_keep_the_rest() -> None:
    given = Thresholds(
        max_missing_rows=3, max_extra_rows=4, max_duplicate_keys=5, max_changed_rows=6, min_match_score=0.9,
        tolerated_categories=["extra_row"],
    )  # fmt: skip
    sliced = slice_thresholds(given)
    assert (sliced.max_missing_rows, sliced.max_extra_rows, sliced.max_duplicate_keys) == (0, 0, 0)
    assert sliced.max_changed_rows == 0
    assert sliced.min_match_score == 0.9 and sliced.tolerated_categories == ["extra_row"]


def test_by_default_as_many_findings_are_kept_as_a_whole_table_run_keeps() -> None:
    limit = ReconcileOptions().findings_limit
    half = limit // 2 + 1
    parts = [
        _part(missing_rows=half, findings=tuple(_missing(index * half + i) for i in range(half)))
        for index in range(2)
    ]
    combined = combine_partitions(parts, thresholds=Thresholds(max_missing_rows=2 * half))
    assert len(combined.findings) == limit and combined.findings_truncated
    assert combined.missing_rows == 2 * half


def _spec(**changes: Any) -> MigrationSpec:
    spec: dict[str, Any] = {
        "source": {"url": "postgresql://app:secret@db1:5432/shop", "timezone": "Europe/Paris"},
        "target": {"url": "postgresql://app:secret@db2:5432/shop"},
        "tables": [{"source": "orders", "key": ["id"], "partitions": 4, "updated_at": "changed"}],
        "thresholds": {"max_missing_rows": 2, "min_match_score": 0.99},
    }
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = spec
        for name in parents:
            node = node[int(name)] if isinstance(node, list) else node[name]
        node[leaf] = value
    return spec_from_mapping(spec)


def _digest(**changes: Any) -> str:
    spec = _spec(**changes)
    return settings_digest(spec, spec.mapping_for("orders"))


@pytest.mark.parametrize(
    "change",
    [
        {"tables__0__ignore": ["note"]},
        {"tables__0__renames": {"note": "remark"}},
        {"tables__0__key": ["id", "line"]},
        {"tables__0__columns": {"amount": {"abs_tolerance": 0.01}}},
        {"tables__0__strategy": "pushdown"},
        {"tables__0__target": "orders_v2"},
        {"thresholds__tolerated_categories": ["extra_row"]},
        {"source__timezone": "UTC"},
        {"target__url": "postgresql://app:secret@db3:5432/shop"},
        {"reports": {"clearance": "restricted"}},
    ],
    ids=lambda change: next(iter(change)),
)
def test_the_settings_digest_changes_with_what_a_bucket_finds(change: dict[str, Any]) -> None:
    assert _digest(**change) != _digest()


def test_the_settings_digest_changes_with_the_form_of_a_result(monkeypatch: pytest.MonkeyPatch) -> None:
    # Buckets stored before their findings carried what combining reads must be reconciled again.
    before = _digest()
    monkeypatch.setattr(combine, "RESULT_FORM", combine.RESULT_FORM + 1)
    assert _digest() != before


@pytest.mark.parametrize(
    "change",
    [
        {"tables__0__partitions": 8},  # checked on its own, with its own message
        {"tables__0__updated_at": "modified"},  # the drift sensor's
        {"thresholds__max_missing_rows": 50},  # applied to the combined table
        {"thresholds__min_match_score": 0.5},
        {"source__url": "postgresql://app:rotated@db1:5432/shop"},  # a new password, the same database
    ],
    ids=lambda change: next(iter(change)),
)
def test_the_settings_digest_ignores_what_does_not_change_a_bucket(change: dict[str, Any]) -> None:
    assert _digest(**change) == _digest()
