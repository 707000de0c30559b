"""Build the demo: a legacy e-commerce database in SQLite and its migrated copy in DuckDB.

The legacy system wrote naive local times (Europe/Paris), money as decimals, booleans as 0/1 and
product states as one-letter codes. The migration to DuckDB converted all of that, and carries a
handful of real-world defects, listed in DEFECTS, that the pipeline must find and explain.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

PARIS = ZoneInfo("Europe/Paris")
Row = tuple[Any, ...]
FIRST = ["Zoé", "Łukasz", "Chloé", "Søren", "André", "Iñés", "Mia", "Noah", "Renée", "José", "Ana", "Björn"]
LAST = ["Müller", "García", "Dubois", "Nowak", "Østergaard", "Rossi", "Smith", "Lefèvre", "Ng", "Öztürk"]
COUNTRIES = ["FR", "DE", "ES", "PL", "DK", "IT", "GB"]
STATUS_CODES = {"A": "active", "I": "inactive", "D": "discontinued"}
ORDER_STATES = ["new", "paid", "shipped", "delivered", "cancelled"]

# What the migrated target gets wrong, as a user would describe it.
DEFECTS = (
    "customers: 3 customers were not migrated (the load job stopped on rows it could not parse)",
    "customers: one name with accents arrived as mojibake (UTF-8 read as Latin-1)",
    "customers: one e-mail address was lower-cased by the new application's import",
    "products: one price lost its cents (numeric scale cut from 2 to 0)",
    "products: the legacy state code 'D' was mapped to 'inactive' instead of 'discontinued'",
    "orders: one order's timestamp moved by one hour (daylight-saving bug in the export)",
    "orders: one order's note became '' instead of NULL",
    "orders: one order was loaded twice under a new id",
    "order_items: one quantity was changed",
    "payments: one payment was not migrated",
    "orders: the foreign key to customers was dropped, leaving orders of the unmigrated customers orphaned",
)


@dataclass(frozen=True)
class DemoPaths:
    directory: Path
    source: Path
    target: Path
    spec: Path

    @property
    def source_url(self) -> str:
        return f"sqlite:///{self.source}"

    @property
    def target_url(self) -> str:
        return f"duckdb:///{self.target}"


def demo_paths(directory: Path) -> DemoPaths:
    return DemoPaths(
        directory=directory,
        source=directory / "legacy_shop.sqlite",
        target=directory / "shop.duckdb",
        spec=directory / "migration.yaml",
    )


def _legacy_rows(seed: int, customers: int) -> dict[str, list[Row]]:
    rng = random.Random(seed)
    start = dt.datetime(2023, 1, 1, 8, 0, 0)
    rows: dict[str, list[Row]] = {
        k: [] for k in ("customers", "products", "orders", "order_items", "payments")
    }
    for cid in range(1, customers + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first.lower()}.{last.lower()}{cid}@Example.com".encode("ascii", "ignore").decode()
        created = start + dt.timedelta(minutes=rng.randrange(0, 500_000))
        rows["customers"].append(
            (
                cid,
                email,
                f"{first} {last}",
                rng.choice(COUNTRIES),
                created.strftime("%Y-%m-%d %H:%M:%S"),
                rng.random() < 0.1,
                rng.randrange(0, 5000),
            )
        )
    for pid in range(1, 121):
        price = Decimal(rng.randrange(199, 49999)) / 100
        rows["products"].append(
            (
                pid,
                f"SKU-{pid:05d}",
                f"Product {pid} {rng.choice(['Lamp', 'Chair', 'Mug', 'Desk', 'Plant'])}",
                str(price),
                round(rng.uniform(0.1, 30.0), 3),
                rng.choice(["A", "A", "A", "I", "D"]),
            )
        )
    item_prices = {r[0]: Decimal(str(r[3])) for r in rows["products"]}
    order_id = payment_id = 0
    for cid in range(1, customers + 1):
        for _ in range(rng.randrange(0, 4)):
            order_id += 1
            ordered = start + dt.timedelta(minutes=rng.randrange(0, 900_000))
            subtotal = Decimal(0)
            for line in range(1, rng.randrange(2, 5)):
                pid = rng.randrange(1, 121)
                qty = rng.randrange(1, 4)
                subtotal += item_prices[pid] * qty
                rows["order_items"].append((order_id, line, pid, qty, str(item_prices[pid])))
            shipping = Decimal("4.90") if subtotal < 50 else Decimal("0.00")
            note = rng.choice([None, None, None, "leave at the door", "gift wrap ☺"])
            rows["orders"].append(
                (
                    order_id,
                    cid,
                    ordered.strftime("%Y-%m-%d %H:%M:%S"),
                    rng.choice(ORDER_STATES),
                    str(subtotal),
                    str(shipping),
                    str(subtotal + shipping),
                    note,
                )
            )
            if rng.random() < 0.8:
                payment_id += 1
                paid = ordered + dt.timedelta(minutes=rng.randrange(1, 120))
                rows["payments"].append(
                    (
                        payment_id,
                        order_id,
                        str(subtotal + shipping),
                        rng.choice(["card", "paypal", "transfer"]),
                        paid.strftime("%Y-%m-%d %H:%M:%S"),
                    )
                )
    return rows


LEGACY_DDL = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, email VARCHAR(120) NOT NULL UNIQUE, full_name VARCHAR(100),
  country CHAR(2), created_at DATETIME, is_vip BOOLEAN NOT NULL DEFAULT 0, loyalty_points INTEGER DEFAULT 0);
CREATE TABLE products (id INTEGER PRIMARY KEY, sku VARCHAR(20) NOT NULL UNIQUE, name VARCHAR(200) NOT NULL,
  price DECIMAL(10,2) NOT NULL, weight_kg REAL, status CHAR(1) NOT NULL DEFAULT 'A');
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
  ordered_at DATETIME NOT NULL, status VARCHAR(10) NOT NULL, subtotal DECIMAL(12,2) NOT NULL,
  shipping DECIMAL(8,2) NOT NULL, total DECIMAL(12,2) NOT NULL, note TEXT);
CREATE INDEX orders_customer ON orders(customer_id);
CREATE TABLE order_items (order_id INTEGER NOT NULL REFERENCES orders(id), line_no INTEGER NOT NULL,
  product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL CHECK (quantity > 0),
  unit_price DECIMAL(10,2) NOT NULL, PRIMARY KEY (order_id, line_no));
CREATE TABLE payments (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id),
  amount DECIMAL(12,2) NOT NULL, method VARCHAR(10) NOT NULL, paid_at DATETIME NOT NULL);
"""

TARGET_DDL = """
CREATE TABLE customers (id BIGINT PRIMARY KEY, email VARCHAR NOT NULL UNIQUE, full_name VARCHAR,
  country VARCHAR, created_at TIMESTAMPTZ, is_vip BOOLEAN NOT NULL DEFAULT false, loyalty_points INTEGER DEFAULT 0);
CREATE TABLE products (id BIGINT PRIMARY KEY, sku VARCHAR NOT NULL UNIQUE, name VARCHAR NOT NULL,
  price DECIMAL(10,2) NOT NULL, weight_kg DOUBLE, status VARCHAR NOT NULL);
CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL,
  ordered_at TIMESTAMPTZ NOT NULL, status VARCHAR NOT NULL, subtotal DECIMAL(12,2) NOT NULL,
  shipping DECIMAL(8,2) NOT NULL, total DECIMAL(12,2) NOT NULL, note VARCHAR);
CREATE TABLE order_items (order_id BIGINT NOT NULL REFERENCES orders(id), line_no INTEGER NOT NULL,
  product_id BIGINT NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL,
  unit_price DECIMAL(10,2) NOT NULL, PRIMARY KEY (order_id, line_no));
CREATE TABLE payments (id BIGINT PRIMARY KEY, order_id BIGINT NOT NULL, amount DECIMAL(12,2) NOT NULL,
  method VARCHAR NOT NULL, paid_at TIMESTAMPTZ NOT NULL);
"""


def _to_utc(local: str) -> dt.datetime:
    return dt.datetime.strptime(local, "%Y-%m-%d %H:%M:%S").replace(tzinfo=PARIS).astimezone(dt.UTC)


def _migrate(rows: dict[str, list[Row]]) -> dict[str, list[Row]]:
    """The migration as the team ran it: conversions done right, plus the DEFECTS."""
    out: dict[str, list[Row]] = {}
    customers: list[Row] = []
    for cid, email, name, country, created, vip, points in rows["customers"]:
        if cid in (17, 42, 256):
            continue
        if cid == 7:
            name = str(name).encode("utf-8").decode("latin-1")
        if cid == 11:
            email = str(email).lower()
        customers.append((cid, email, name, country, _to_utc(str(created)), bool(vip), points))
    out["customers"] = customers
    products: list[Row] = []
    for pid, sku, name, price, weight, status in rows["products"]:
        mapped = STATUS_CODES[str(status)]
        if status == "D" and not any(p[5] == "D" and p[0] < pid for p in rows["products"]):
            mapped = "inactive"
        if pid == 5:
            price = str(Decimal(str(price)).quantize(Decimal("1")))
        products.append((pid, sku, name, price, weight, mapped))
    out["products"] = products
    orders: list[Row] = []
    blank_note = next(r[0] for r in rows["orders"] if r[7] is None)
    for oid, cid, ordered, status, subtotal, shipping, total, note in rows["orders"]:
        when = _to_utc(str(ordered))
        if oid == 3:
            when += dt.timedelta(hours=1)
        if oid == blank_note:
            note = ""
        orders.append((oid, cid, when, status, subtotal, shipping, total, note))
    duplicate = orders[20]
    orders.append((max(o[0] for o in orders) + 1, *duplicate[1:]))
    out["orders"] = orders
    items = [tuple(r) for r in rows["order_items"]]
    first = items[4]
    items[4] = (*first[:3], int(first[3]) + 1, first[4])
    out["order_items"] = items
    out["payments"] = [
        (pid, oid, amount, method, _to_utc(str(paid)))
        for pid, oid, amount, method, paid in rows["payments"]
        if pid != 12
    ]
    return out


def build_demo(directory: Path, *, seed: int = 20240601, customers: int = 800) -> DemoPaths:
    """(Re)create the demo databases and spec under ``directory``."""
    paths = demo_paths(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for path in (paths.source, paths.target, Path(f"{paths.target}.wal")):
        path.unlink(missing_ok=True)
    rows = _legacy_rows(seed, customers)
    legacy = sqlite3.connect(paths.source)
    try:
        legacy.executescript(LEGACY_DDL)
        for table, values in rows.items():
            marks = ", ".join("?" * len(values[0]))
            legacy.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
        legacy.commit()
    finally:
        legacy.close()
    migrated = _migrate(rows)
    target = duckdb.connect(str(paths.target))
    try:
        target.execute("SET TimeZone='UTC'")
        target.execute(TARGET_DDL)
        for table, values in migrated.items():
            marks = ", ".join("?" * len(values[0]))
            target.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
        target.execute("CREATE SEQUENCE orders_id_seq START 1")
    finally:
        target.close()
    paths.spec.write_text(demo_spec_text(paths), encoding="utf-8")
    return paths


def demo_spec_text(paths: DemoPaths) -> str:
    return f"""# Demo migration: a legacy SQLite shop moved to DuckDB.
version: 1
name: demo-shop
source:
  url: {paths.source_url}
  timezone: Europe/Paris          # the legacy application wrote naive local times
target:
  url: {paths.target_url}
tables:
  - source: customers
    columns:
      email: {{classification: confidential}}
      full_name: {{classification: restricted}}
  - source: products
    columns:
      status: {{value_map: {{A: active, I: inactive, D: discontinued}}}}
      weight_kg: {{abs_tolerance: 0.0005}}
  - source: orders
  - source: order_items
  - source: payments
reports:
  directory: {paths.directory / "reports"}
  clearance: internal
"""
