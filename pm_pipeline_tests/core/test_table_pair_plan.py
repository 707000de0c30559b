"""A table is planned once per check: the TablePair's plan reaches the reconciliation, the integrity
checks and the generated expectations alike."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core import check as check_module
from pm_pipeline.core.check import TablePair
from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.integrity import check as integrity_check
from pm_pipeline.core.integrity import expectations
from pm_pipeline.core.reconcile import engine
from pm_pipeline.core.reconcile.planning import plan_table
from pm_pipeline.core.run import run_check, spec_for_urls

SCHEMA = [
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, born DATE)",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), "
    "total NUMERIC(10,2) NOT NULL, status TEXT NOT NULL)",
]
ROWS = [
    "INSERT INTO customers VALUES " + ", ".join(f"({i}, 'c{i}', '1990-01-{i:02d}')" for i in range(1, 21)),
    "INSERT INTO orders VALUES "
    + ", ".join(f"({i}, {i % 20 + 1}, {i}.25, '{('new', 'paid')[i % 2]}')" for i in range(1, 41)),
]


def _database(path: Path) -> str:
    with sqlite3.connect(path) as db:
        for statement in SCHEMA + ROWS:
            db.execute(statement)
    return f"sqlite:///{path}"


def test_each_table_is_planned_once_per_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counted(**kwargs: Any) -> Any:
        calls.append(kwargs["mapping"].source)
        return plan_table(**kwargs)

    for module in (check_module, integrity_check, expectations, engine):
        monkeypatch.setattr(module, "plan_table", counted)
    spec = spec_for_urls(source_url=_database(tmp_path / "a.db"), target_url=_database(tmp_path / "b.db"))
    assert spec.integrity.gx.enabled and spec.integrity.gx.generate and spec.integrity.checksums
    result = run_check(spec)
    assert sorted(t.table for t in result.tables) == ["customers", "orders"]
    # The checks ran on the plan: the checksums and generated expectations have counted rows.
    assert [entry.source.rows for entry in sorted(result.manifest, key=lambda e: e.table)] == [20, 40]
    assert not [f for f in result.findings if f.severity != "info"], result.findings
    assert sorted(calls) == ["customers", "orders"]


def test_a_pair_plans_in_the_zones_its_endpoints_declare(tmp_path: Path) -> None:
    spec = spec_for_urls(source_url=_database(tmp_path / "a.db"), target_url=_database(tmp_path / "b.db"))
    spec = spec.model_copy(
        update={
            "source": spec.source.model_copy(update={"timezone": "Europe/Paris"}),
            "target": spec.target.model_copy(update={"timezone": None}),
        }
    )
    mapping = TableMapping(source="customers")
    with connect(spec.source.url) as source, connect(spec.target.url) as target:
        pair = TablePair.build(source=source, target=target, mapping=mapping, spec=spec)
        assert pair.plan is pair.plan  # planned once, then kept
        assert pair.zones == ("Europe/Paris", None)
        born = next(p for p in pair.plan.all_plans if p.name == "born")
        assert (born.source_zone, born.target_zone) == ("Europe/Paris", "UTC")
