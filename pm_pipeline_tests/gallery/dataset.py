"""The gallery's logical dataset, written once: three related tables with deterministic rows.

Values are engine-free Python: bool, int, str, Decimal, float, dict (JSON), bytes, date, naive
datetime (UTC wall time), tuple (a set or list of labels) and ``ZERO`` (a MariaDB zero date, which
a correct migration turns into NULL).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """A logical column type; ``render`` maps each to one type per engine."""

    ID = "id"  # unsigned auto-increment key
    REF = "ref"  # unsigned integer referencing an id
    SMALL_UNSIGNED = "small_unsigned"
    FLAG = "flag"  # MariaDB tinyint(1)
    ENUM = "enum"  # -> a PostgreSQL enum type
    ENUM_CHECK = "enum_check"  # -> varchar + CHECK
    SET = "set"  # MariaDB SET -> text[]
    LIST = "list"  # an array of labels (PostgreSQL text[], Parquet list<string>)
    YEAR = "year"  # -> the PostgreSQL domain ``year``
    INT = "int"  # a plain integer (what YEAR is where no YEAR type exists)
    DECIMAL = "decimal"
    DOUBLE = "double"
    JSON = "json"
    BLOB = "blob"
    VARCHAR = "varchar"
    TEXT = "text"
    DATE = "date"
    DATETIME = "datetime"  # naive wall time
    TIMESTAMP = "timestamp"  # an instant (MariaDB TIMESTAMP), held as UTC wall time


class Zero:
    """A MariaDB zero date or datetime ('0000-00-00'): NULL everywhere else."""

    def __repr__(self) -> str:
        return "ZERO"


ZERO = Zero()
NOW = "CURRENT_TIMESTAMP"  # a column default every engine spells its own way


@dataclass(frozen=True)
class Column:
    name: str  # PascalCase, as the legacy application named it
    kind: Kind
    nullable: bool = True
    length: int | None = None
    fraction: int = 0  # digits of a second a DATETIME keeps (MariaDB DATETIME(6))
    labels: tuple[str, ...] = ()  # ENUM, ENUM_CHECK, SET, LIST
    default: Any = None  # a value, or NOW (the current timestamp)

    @property
    def target_name(self) -> str:
        return snake_case(self.name)


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    rows: tuple[Mapping[str, Any], ...]
    unique: tuple[tuple[str, ...], ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    stale_counter: bool = False  # ids copied explicitly, the identity left at its start

    @property
    def target_name(self) -> str:
        return snake_case(self.name)

    @property
    def identity(self) -> Column | None:
        return next((c for c in self.columns if c.kind is Kind.ID), None)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def key_of(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(row[name] for name in self.key)


@dataclass(frozen=True)
class Dataset:
    tables: tuple[Table, ...]

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    def replace(self, table: Table) -> Dataset:
        return Dataset(tuple(table if t.name == table.name else t for t in self.tables))


def snake_case(name: str) -> str:
    """``OrderItems`` -> ``order_items``, ``CustomerId`` -> ``customer_id``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


TIERS = ("bronze", "silver", "gold")
STATUSES = ("new", "active", "closed")
TAGS = ("vip", "newsletter", "wholesale")
NAMES = (
    "Zoë Łukasiewicz",
    "José Núñez 🎉",
    "Amélie Poulain",
    "Søren Kierkegaard",
    "Ελένη Παπαδοπούλου",
    "李小龍",
    "Ørjan 🚀 Berg",
    "Plain Smith",
)
EPOCH = dt.datetime(2023, 1, 1)
# Dates around the epoch and a leap day; text that is empty, multi-line or full of quotes.
EDGE_DATES = {3: dt.date(1969, 12, 31), 6: dt.date(2024, 2, 29), 10: dt.date(1970, 1, 1)}
EDGE_NOTES = {5: "", 10: "ligne 1\nligne 2\ttab, trailing space ", 15: 'it\'s a "quoted" back\\slash'}
BALANCES = {2: Decimal("-0.10"), 4: Decimal("0.00"), 24: Decimal("9999999999.99")}  # sign, zero, widest


def _customer(i: int) -> dict[str, Any]:
    tags = tuple(tag for bit, tag in enumerate(TAGS) if i >> bit & 1)
    return {
        "CustomerId": i,
        "Email": f"user{i:02d}@example.com",
        "FullName": f"{NAMES[i % len(NAMES)]} {i}",
        "IsActive": None if i % 7 == 0 else i % 3 != 0,
        "Tier": TIERS[i % 3],
        "Status": STATUSES[(i // 2) % 3],
        "Tags": None if i == 13 else tags,  # i % 8 == 0: the empty set
        "BirthYear": None if i == 11 else 1940 + 3 * i,
        "Balance": BALANCES.get(i, Decimal(i * 8_765_431 % 100_000_000) / 100),
        "Score": float(Decimal("0.3") * i) if i % 5 else None,
        "Profile": None
        if i == 17
        else {"lang": ("fr", "de", "pl")[i % 3], "prefs": {"theme": "dark", "n": i}},
        "Avatar": None if i == 9 else bytes([i, 0, 255, (i * 37) % 256]) + b"\x00PNG",
        "SignupDate": ZERO if i % 8 == 0 else EDGE_DATES.get(i, (EPOCH + dt.timedelta(days=11 * i)).date()),
        "CreatedAt": ZERO if i % 11 == 0 else EPOCH + dt.timedelta(days=i, hours=i, minutes=7 * i, seconds=i),
        # Crosses both daylight-saving changes: an instant, equal in UTC on both sides.
        "LastLogin": None if i == 5 else dt.datetime(2024, 3, 31, 0, 30) + dt.timedelta(days=9 * i, hours=i),
    }


def _items(order_id: int) -> list[dict[str, Any]]:
    return [
        {
            "OrderId": order_id,
            "LineNo": line,
            "Sku": f"SKU-{(order_id * 7 + line) % 40:03d}-é",
            "Quantity": 1 + (order_id + line) % 4 if order_id % 9 else 65535,
            "UnitPrice": Decimal((order_id * 131 + line * 17) % 5000 + 99) / 100,
        }
        for line in range(1, order_id % 3 + 2)
    ]


def _order(i: int, items: list[dict[str, Any]]) -> dict[str, Any]:
    ordered_at = EPOCH + dt.timedelta(days=3 * i, hours=(5 * i) % 24, minutes=i, seconds=2 * i)
    return {
        "OrderId": i,
        "CustomerId": (i * 7) % 24 + 1,
        "OrderedAt": ordered_at,
        "UpdatedAt": None
        if i % 4 == 0
        else ordered_at + dt.timedelta(days=i % 5, microseconds=123_457 * i % 10**6),
        "Total": sum((item["Quantity"] * item["UnitPrice"] for item in items), Decimal("0.00")),
        "Note": EDGE_NOTES.get(i, None if i % 6 == 0 else f"Livraison n°{i} — «fragile» 📦" * (1 + i % 3)),
    }


def gallery_dataset() -> Dataset:
    customers = Table(
        name="Customers",
        columns=(
            Column("CustomerId", Kind.ID, nullable=False),
            Column("Email", Kind.VARCHAR, nullable=False, length=120),
            Column("FullName", Kind.VARCHAR, nullable=False, length=80),
            Column("IsActive", Kind.FLAG, default=True),
            Column("Tier", Kind.ENUM, nullable=False, labels=TIERS, default="bronze"),
            Column("Status", Kind.ENUM_CHECK, nullable=False, labels=STATUSES, default="new"),
            Column("Tags", Kind.SET, labels=TAGS),
            Column("BirthYear", Kind.YEAR),
            Column("Balance", Kind.DECIMAL, nullable=False, default=Decimal("0.00")),
            Column("Score", Kind.DOUBLE),
            Column("Profile", Kind.JSON),
            Column("Avatar", Kind.BLOB),
            Column("SignupDate", Kind.DATE),
            Column("CreatedAt", Kind.DATETIME, default=NOW),
            Column("LastLogin", Kind.TIMESTAMP),
        ),
        key=("CustomerId",),
        rows=tuple(_customer(i) for i in range(1, 25)),
        unique=(("Email",),),
    )
    items = [_items(i) for i in range(1, 31)]
    orders = Table(
        name="Orders",
        columns=(
            Column("OrderId", Kind.ID, nullable=False),
            Column("CustomerId", Kind.REF, nullable=False),
            Column("OrderedAt", Kind.DATETIME, nullable=False),
            Column("UpdatedAt", Kind.DATETIME, fraction=6),
            Column("Total", Kind.DECIMAL, nullable=False),
            Column("Note", Kind.TEXT),
        ),
        key=("OrderId",),
        rows=tuple(_order(i, items[i - 1]) for i in range(1, 31)),
        foreign_keys=(ForeignKey(("CustomerId",), "Customers", ("CustomerId",)),),
    )
    order_items = Table(
        name="OrderItems",
        columns=(
            Column("OrderId", Kind.REF, nullable=False),
            Column("LineNo", Kind.SMALL_UNSIGNED, nullable=False),
            Column("Sku", Kind.VARCHAR, nullable=False, length=40),
            Column("Quantity", Kind.SMALL_UNSIGNED, nullable=False),
            Column("UnitPrice", Kind.DECIMAL, nullable=False),
        ),
        key=("OrderId", "LineNo"),
        rows=tuple(row for group in items for row in group),
        unique=(("OrderId", "Sku"),),
        foreign_keys=(ForeignKey(("OrderId",), "Orders", ("OrderId",)),),
    )
    return Dataset((customers, orders, order_items))


def noisy(value: float) -> float:
    """The double a migration wrote back with its last digit changed."""
    return math.nextafter(value, math.inf)
