"""The gallery's own data keeps the invariants its checks rely on: every kind present, keys and references sound, totals adding up, and each seeded defect really present in the twin."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from .dataset import ZERO, Kind, gallery_dataset
from .defects import seed_defects
from .render import shape


def test_every_kind_appears_with_tens_of_rows() -> None:
    data = gallery_dataset()
    kinds = {c.kind for t in data.tables for c in t.columns}
    assert kinds >= set(Kind) - {Kind.LIST, Kind.INT}  # those two exist only as reductions
    assert all(20 <= len(t.rows) <= 60 for t in data.tables)
    assert any(v is ZERO for t in data.tables for r in t.rows for v in r.values())


def test_keys_unique_and_references_resolve() -> None:
    data = gallery_dataset()
    for table in data.tables:
        for columns in (table.key, *table.unique):
            counts = Counter(tuple(row[c] for c in columns) for row in table.rows)
            assert max(counts.values()) == 1, (table.name, columns)
        for fk in table.foreign_keys:
            parent = data.table(fk.parent)
            parents = {tuple(row[c] for c in fk.parent_columns) for row in parent.rows}
            assert all(tuple(row[c] for c in fk.columns) in parents for row in table.rows)


def test_order_totals_are_the_sum_of_their_items() -> None:
    data = gallery_dataset()
    sums: dict[int, Decimal] = {}
    for item in data.table("OrderItems").rows:
        sums[item["OrderId"]] = sums.get(item["OrderId"], Decimal(0)) + item["Quantity"] * item["UnitPrice"]
    assert all(order["Total"] == sums[order["OrderId"]] for order in data.table("Orders").rows)


def test_sources_without_zero_dates_hold_null_instead() -> None:
    for engine in ("postgres", "sqlite", "parquet"):
        data = shape(gallery_dataset(), source=engine)
        assert not any(v is ZERO for t in data.tables for r in t.rows for v in r.values()), engine


def test_each_seeded_defect_is_in_the_twin() -> None:
    data = gallery_dataset()
    twin = seed_defects(data)
    assert {d.category for d in twin.defects} == {
        "missing_row",
        "extra_row",
        "value_mismatch",
        "orphan_row",
        "sequence_behind",
    }
    for defect in twin.defects:
        before = {data.table(defect.table).key_of(r): r for r in data.table(defect.table).rows}
        after = {twin.target.table(defect.table).key_of(r): r for r in twin.target.table(defect.table).rows}
        key = tuple(defect.key.values())
        if defect.category == "missing_row":
            assert key in before and key not in after
        elif defect.category == "extra_row":
            assert key in after and key not in before
        elif defect.category == "value_mismatch":
            assert defect.column is not None
            assert before[key][defect.column] != after[key][defect.column]
        elif defect.category == "sequence_behind":
            assert twin.target.table(defect.table).stale_counter and key == ()
        else:  # an orphan: the row is intact, its parent is gone
            assert before[key] == after[key]
            assert (after[key]["CustomerId"],) not in {
                (r["CustomerId"],) for r in twin.target.table("Customers").rows
            }
    without = seed_defects(data, orphans=False)
    assert "orphan_row" not in {d.category for d in without.defects}
    lost = {(r["CustomerId"],) for r in data.table("Customers").rows} - {
        (r["CustomerId"],) for r in without.target.table("Customers").rows
    }
    assert lost == set()  # where foreign keys are enforced on load, no parent goes missing
