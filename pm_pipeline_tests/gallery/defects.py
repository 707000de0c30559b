"""The defect twin: the target of a migration that went wrong in a few known places.

Each seeded defect stands for a real migration bug (its ``why``) and says where a check must
report it: the source table, the source column (None for a whole row) and the row's key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .dataset import Dataset, Table


@dataclass(frozen=True)
class Defect:
    """A seeded defect and where it must be reported (source table and column names)."""

    category: str
    table: str
    column: str | None
    key: Mapping[str, Any]
    why: str


@dataclass(frozen=True)
class Twin:
    target: Dataset  # what the defective migration loaded into the target
    defects: tuple[Defect, ...] = field(default_factory=tuple)


def _edit(table: Table, key: tuple[Any, ...], **changes: Any) -> Table:
    rows = tuple({**row, **changes} if table.key_of(row) == key else row for row in table.rows)
    return dataclasses.replace(table, rows=rows)


def _drop(table: Table, key: tuple[Any, ...]) -> Table:
    return dataclasses.replace(table, rows=tuple(r for r in table.rows if table.key_of(r) != key))


def seed_defects(data: Dataset, *, orphans: bool = True, counters: bool = True) -> Twin:
    """The target of a defective migration of ``data``. ``orphans=False`` where the target engine
    enforces foreign keys on load (DuckDB) and a lost parent cannot happen; ``counters=False``
    where the target hands out max(id) + 1 by itself (a SQLite rowid) and no counter can lag."""
    customers, orders, items = (data.table(n) for n in ("Customers", "Orders", "OrderItems"))
    defects: list[Defect] = []

    def found(category: str, table: Table, column: str | None, key: tuple[Any, ...], why: str) -> None:
        defects.append(Defect(category, table.name, column, dict(zip(table.key, key, strict=True)), why))

    dropped_line = items.rows[5]
    items = _drop(items, items.key_of(dropped_line))
    found("missing_row", items, None, items.key_of(dropped_line), "a row lost by a batch that failed")
    extra = {
        **customers.rows[-1],
        **{
            "CustomerId": 25,
            "Email": "user25@example.com",
            "FullName": "Ghost 25",
            "Balance": Decimal("12.34"),
        },
        **{"BirthYear": 1999, "LastLogin": dt.datetime(2024, 12, 24, 18, 0)},
    }
    customers = dataclasses.replace(customers, rows=(*customers.rows, extra))
    found("extra_row", customers, None, (25,), "a test row written into the target")
    balance = customers.rows[4]["Balance"]
    customers = _edit(customers, (5,), Balance=balance + Decimal("0.01"))
    found("value_mismatch", customers, "Balance", (5,), "a decimal rounded through a float")
    ordered_at = orders.rows[6]["OrderedAt"]
    orders = _edit(orders, (7,), OrderedAt=ordered_at + dt.timedelta(hours=1))
    found("value_mismatch", orders, "OrderedAt", (7,), "a datetime converted in the wrong zone")
    name = customers.rows[2]["FullName"]
    customers = _edit(customers, (3,), FullName=name[:10])
    found("value_mismatch", customers, "FullName", (3,), "a text cut to a narrower column")
    if counters:
        orders = dataclasses.replace(orders, stale_counter=True)
        defects.append(
            Defect("sequence_behind", orders.name, "OrderId", {}, "ids copied, the identity never advanced")
        )
    if orphans:
        lost = 9
        customers = _drop(customers, (lost,))
        found("missing_row", customers, None, (lost,), "a parent row lost while checks were off")
        for order in orders.rows:
            if order["CustomerId"] == lost:
                found("orphan_row", orders, "CustomerId", orders.key_of(order), "its parent was lost")
    target = data.replace(customers).replace(orders).replace(items)
    return Twin(target=target, defects=tuple(defects))
