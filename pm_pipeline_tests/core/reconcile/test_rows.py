"""Row-level defects (missing, extra, duplicated natural keys) on real engine pairs, with composite, text and absent keys."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from pm_pipeline.core.config.spec import TableMapping, Thresholds
from pm_pipeline.core.findings import Category, Severity
from pm_pipeline.core.reconcile import ReconcileOptions

from .engines import Col, Pair

COLUMNS = [Col("id", "int"), Col("code", "text"), Col("amount", "dec")]
ROWS = [(i, f"C{i:03d}", Decimal(i) / 4) for i in range(1, 21)]


def test_correct_copy_is_clean(pair: Pair) -> None:
    pair.source.create("orders", COLUMNS, ROWS, key=["id"])
    pair.target.create("orders", COLUMNS, ROWS, key=["id"])
    result = pair.reconcile(TableMapping(source="orders", key=["id"]))
    assert result.findings == ()
    assert (result.matched_rows, result.missing_rows, result.extra_rows) == (20, 0, 0)
    assert result.match_score == 1.0 and result.passed


def test_missing_and_extra_rows(pair: Pair) -> None:
    # A batch that failed half way (rows 5 and 13 never arrived) while test rows were left behind.
    pair.source.create("orders", COLUMNS, ROWS, key=["id"])
    target_rows = [r for r in ROWS if r[0] not in (5, 13)] + [
        (900, "TEST", Decimal("0")),
        (901, "TEST", Decimal("1")),
    ]
    pair.target.create("orders", COLUMNS, target_rows, key=["id"])
    result = pair.reconcile(TableMapping(source="orders", key=["id"]))
    categories = Counter(f.category for f in result.findings)
    assert categories == {Category.MISSING_ROW: 2, Category.EXTRA_ROW: 2}
    assert sorted(f.key["id"] for f in result.findings if f.category is Category.MISSING_ROW and f.key) == [
        5,
        13,
    ]
    assert sorted(f.key["id"] for f in result.findings if f.category is Category.EXTRA_ROW and f.key) == [
        900,
        901,
    ]
    assert (result.matched_rows, result.missing_rows, result.extra_rows) == (18, 2, 2)
    assert result.match_score == pytest.approx((22 * 2 - 4 * 2) / (22 * 2))


def test_missing_rows_within_threshold_are_warnings(pair: Pair) -> None:
    pair.source.create("orders", COLUMNS, ROWS, key=["id"])
    pair.target.create("orders", COLUMNS, ROWS[1:], key=["id"])
    options = ReconcileOptions(thresholds=Thresholds(max_missing_rows=1))
    result = pair.reconcile(TableMapping(source="orders", key=["id"]), options=options)
    (finding,) = result.findings
    assert finding.category is Category.MISSING_ROW and finding.severity is Severity.WARNING
    assert result.passed


def test_duplicated_natural_key_under_new_ids(pair: Pair) -> None:
    # The load ran twice: the target's surrogate ids are new, so only the natural key shows the duplicate.
    source_rows = [(i, f"C{i:03d}", Decimal(i)) for i in range(1, 11)]
    target_rows = [(100 + i, code, amount) for i, code, amount in source_rows]
    target_rows += [(200 + i, code, amount) for i, code, amount in source_rows if i in (3, 7)]
    pair.source.create("orders", COLUMNS, source_rows, key=["id"])
    pair.target.create("orders", COLUMNS, target_rows, key=["id"])
    result = pair.reconcile(TableMapping(source="orders", key=["code"], ignore=["id"]))
    assert {f.category for f in result.findings} == {Category.DUPLICATE_KEY}
    assert sorted(f.key["code"] for f in result.findings if f.key) == ["C003", "C007"]
    assert all("2 times in the target" in f.message for f in result.findings)
    assert (result.duplicate_keys_source, result.duplicate_keys_target) == (0, 2)
    # Re-keyed but loaded once: the natural key matches one to one.
    pair.target.create("orders_once", COLUMNS, target_rows[:10], key=["id"])
    clean = pair.reconcile(TableMapping(source="orders", target="orders_once", key=["code"], ignore=["id"]))
    assert clean.findings == () and clean.matched_rows == 10


def test_duplicated_keys_are_set_aside_and_the_rest_compared(pair: Pair) -> None:
    # A retried load on both sides: some natural keys repeat in the source, some in the target, one
    # never reached the target at all, while the other rows still carry a changed value and a stray row.
    source_rows = [(i, f"C{i:03d}", Decimal(i)) for i in range(1, 11)]
    source_rows += [(20, "C003", Decimal(3)), (21, "C003", Decimal(3)), (22, "C009", Decimal(9))]
    target_rows = [
        (i, code, Decimal(0) if code == "C010" else amount) for i, code, amount in source_rows[:10]
    ]
    target_rows = [r for r in target_rows if r[1] != "C009"]
    target_rows += [(30, "C007", Decimal(7)), (31, "C011", Decimal(11))]
    pair.source.create("orders", COLUMNS, source_rows, key=["id"])
    pair.target.create("orders", COLUMNS, target_rows, key=["id"])
    result = pair.reconcile(TableMapping(source="orders", key=["code"], ignore=["id"]))
    duplicates = sorted(
        (f.key["code"], f.side, f.count, f.message)
        for f in result.findings
        if f.category is Category.DUPLICATE_KEY and f.key
    )
    assert duplicates == [
        ("C003", "source", 3, "key appears 3 times in the source"),
        ("C007", "target", 2, "key appears 2 times in the target"),
        ("C009", "source", 2, "key appears 2 times in the source"),
    ]
    assert (result.duplicate_keys_source, result.duplicate_keys_target) == (2, 1)
    # Each row of a duplicated key the other side lacks is missing; keys duplicated but present on
    # both sides are neither missing nor matched.
    assert sorted(
        (str(f.category), f.key["code"])
        for f in result.findings
        if f.category is not Category.DUPLICATE_KEY and f.key
    ) == [("extra_row", "C011"), ("missing_row", "C009"), ("missing_row", "C009"), ("value_mismatch", "C010")]
    assert (result.matched_rows, result.missing_rows, result.extra_rows, result.changed_rows) == (7, 2, 1, 1)
    # Side and count are written to JSON where a finding has them, and only there.
    written = {str(f.category): f.to_json() for f in result.findings}
    assert (written["duplicate_key"]["side"], written["duplicate_key"]["count"]) in {
        ("source", 3),
        ("source", 2),
        ("target", 2),
    }
    assert not {"side", "count"} & written["missing_row"].keys()


def test_composite_text_key(pair: Pair) -> None:
    # Order lines keyed by (order number, line): a line moved to another order is missing + extra.
    columns = [Col("order_no", "text"), Col("line", "int"), Col("qty", "int")]
    rows = [(f"SO-{o}", line, o * line) for o in range(1, 5) for line in range(1, 4)]
    moved = [("SO-9", 1, 1) if r == ("SO-1", 1, 1) else r for r in rows]
    changed = [(o, line, 0) if (o, line) == ("SO-2", 3) else (o, line, q) for o, line, q in moved]
    pair.source.create("lines", columns, rows, key=["order_no", "line"])
    pair.target.create("lines", columns, changed, key=["order_no", "line"])
    pair.target.create("lines_ok", columns, rows, key=["order_no", "line"])
    mapping = TableMapping(source="lines", key=["order_no", "line"])
    result = pair.reconcile(mapping)
    by_category = {f.category: f for f in result.findings}
    assert Counter(f.category for f in result.findings) == {
        Category.MISSING_ROW: 1,
        Category.EXTRA_ROW: 1,
        Category.VALUE_MISMATCH: 1,
    }
    assert by_category[Category.MISSING_ROW].key == {"order_no": "SO-1", "line": 1}
    assert by_category[Category.EXTRA_ROW].key == {"order_no": "SO-9", "line": 1}
    mismatch = by_category[Category.VALUE_MISMATCH]
    assert (mismatch.key, mismatch.column, mismatch.source_value, mismatch.target_value) == (
        {"order_no": "SO-2", "line": 3},
        "qty",
        6,
        0,
    )
    assert pair.reconcile(mapping.model_copy(update={"target": "lines_ok"})).findings == ()


def test_keyless_table_is_compared_as_multiset(pair: Pair) -> None:
    # A log table without a key: one event lost, one duplicated by a retried insert.
    columns = [Col("event", "text"), Col("n", "int")]
    rows = [("login", 1), ("login", 1), ("logout", 2), ("view", 3), ("view", 4)]
    target = [("login", 1), ("logout", 2), ("view", 3), ("view", 4), ("view", 4)]
    pair.source.create("events", columns, rows)
    pair.target.create("events", columns, target)
    pair.target.create("events_ok", columns, list(reversed(rows)))
    result = pair.reconcile(TableMapping(source="events"))
    assert result.keyless
    assert (result.missing_rows, result.extra_rows) == (1, 1)
    assert Counter(f.category for f in result.findings) == {Category.MISSING_ROW: 1, Category.EXTRA_ROW: 1}
    clean = pair.reconcile(TableMapping(source="events", target="events_ok"))
    assert clean.findings == () and (clean.missing_rows, clean.extra_rows) == (0, 0)
