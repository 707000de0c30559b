"""The Dagster assets and the CLI's check run the same checks on the same TablePair: on a migration
that renamed its tables and columns, both find the same things (here: nothing, it is correct)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg
import pytest

from pm_pipeline.core.config import load_spec
from pm_pipeline.core.run import run_check
from pm_pipeline.core.schema import SchemaComparison
from pm_pipeline.defs.assets.tables import IntegrityOutput, build_table_assets
from pm_pipeline.defs.resources import MigrationResource

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")

SOURCE = [
    "CREATE TABLE Customers (CustomerId INTEGER PRIMARY KEY, FullName TEXT NOT NULL)",
    "CREATE TABLE Orders (OrderId INTEGER PRIMARY KEY, CustomerId INT NOT NULL "
    "REFERENCES Customers(CustomerId), Total TEXT)",
    "CREATE INDEX orders_customer ON Orders (CustomerId)",
    "INSERT INTO Customers VALUES (1, 'Ada'), (2, 'Grace')",
    "INSERT INTO Orders VALUES (10, 1, '5.00'), (11, 2, '7.50'), (12, 2, '1.25')",
]
TARGET = [
    "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, full_name TEXT NOT NULL)",
    "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INT NOT NULL "
    "REFERENCES customers(customer_id), total TEXT)",
    "CREATE INDEX orders_customer ON orders (customer_id)",
    "INSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace')",
    "INSERT INTO orders VALUES (10, 1, '5.00'), (11, 2, '7.50'), (12, 2, '1.25')",
]


def _database(path: Path, statements: list[str]) -> str:
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    return f"sqlite:///{path}"


@pytest.fixture
def spec_path(tmp_path: Path) -> Path:
    source = _database(tmp_path / "legacy.db", SOURCE)
    target = _database(tmp_path / "new.db", TARGET)
    path = tmp_path / "migration.yaml"
    path.write_text(
        f"name: shop\nsource: {{url: '{source}'}}\ntarget: {{url: '{target}'}}\n"
        "tables:\n"
        "  - {source: Customers, target: customers, key: [CustomerId],\n"
        "     renames: {CustomerId: customer_id, FullName: full_name}}\n"
        "  - {source: Orders, target: orders, key: [OrderId],\n"
        "     renames: {OrderId: order_id, CustomerId: customer_id, Total: total}}\n"
        f"reports: {{directory: '{tmp_path / 'reports'}'}}\n",
        encoding="utf-8",
    )
    return path


def _problems(findings: object) -> set[tuple[str, str]]:
    return {(f.table, str(f.category)) for f in findings if str(f.severity) != "info"}  # type: ignore[attr-defined]


def test_both_front_doors_pass_a_renamed_migration_alike(spec_path: Path) -> None:
    spec = load_spec(spec_path)
    cli = run_check(spec)
    assert _problems(cli.findings) == set()
    assets, _ = build_table_assets(spec, spec.tables)
    result = dg.materialize(assets, resources={"migration": MigrationResource(spec_path=str(spec_path))})
    assert result.success
    dagster: set[tuple[str, str]] = set()
    for table in ("Customers", "Orders"):
        schema = result.output_for_node(f"schema__{table}")
        integrity = result.output_for_node(f"integrity__{table}")
        assert isinstance(schema, SchemaComparison) and isinstance(integrity, IntegrityOutput)
        dagster |= _problems(schema.findings) | _problems(integrity.findings)
    assert dagster == set()
