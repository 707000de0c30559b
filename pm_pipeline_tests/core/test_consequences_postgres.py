"""caused_by on real PostgreSQL: one changed total is one error; the checksum mismatch and the rule
violation it causes are kept, linked to it and not counted, through renamed tables and columns."""

from __future__ import annotations

from typing import Any

import pytest

from pm_pipeline.core.config.spec import Endpoint, MigrationSpec, TableMapping
from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.core.report.markdown import render_markdown
from pm_pipeline.core.run import check_report, run_check

from ..conftest import PgDatabase


def _orders(table: str, column: str, totals: dict[int, str]) -> tuple[str, ...]:
    values = ", ".join(f"({i}, {totals.get(i, f'{i * 10}.50')})" for i in range(1, 11))
    return (
        f"CREATE TABLE {table} (id integer PRIMARY KEY, {column} numeric(10,2))",
        f"INSERT INTO {table} (id, {column}) VALUES {values}",
    )


def _spec(
    source: PgDatabase, target: PgDatabase, mapping: TableMapping, rule: dict[str, str]
) -> MigrationSpec:
    integrity: dict[str, Any] = {"gx": {"enabled": False}, "rules": [rule]}
    return MigrationSpec(
        source=Endpoint(url=source.url),
        target=Endpoint(url=target.url),
        tables=[mapping],
        integrity=integrity,
    )


def _by_category(findings: tuple[Finding, ...]) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(str(finding.category), []).append(finding)
    return grouped


@pytest.mark.parametrize(
    ("target_table", "target_column"),
    [
        # Same names on both sides.
        ("orders", "total"),
        # Renamed table and column: reconciliation speaks source names, integrity target names.
        ("orders_v2", "amount"),
    ],
)
def test_one_changed_total_is_one_error_and_two_consequences(
    pg_db: PgDatabase, pg_db2: PgDatabase, target_table: str, target_column: str
) -> None:
    pg_db.execute(*_orders("orders", "total", {}))
    pg_db2.execute(*_orders(target_table, target_column, {2: "-5.00"}))
    mapping = TableMapping(source="orders", target=target_table, renames={"total": target_column})
    rule = {"name": "not_negative", "table": target_table, "check": f"{target_column} >= 0"}
    result = run_check(_spec(pg_db, pg_db2, mapping, rule))

    found = _by_category(result.all_findings)
    assert [(f.severity, f.caused_by, f.key) for f in found["value_mismatch"]] == [
        (Severity.ERROR, None, {"id": 2})
    ]
    assert [(f.severity, f.caused_by) for f in found["checksum_mismatch"]] == [
        (Severity.INFO, "value_mismatch")
    ]
    assert [(f.severity, f.caused_by, f.key) for f in found["rule_violation"]] == [
        (Severity.INFO, "value_mismatch", {"id": 2})
    ]
    verdict = result.verdict
    assert (verdict.state, sum(t.errors for t in verdict.tables)) == ("fail", 1)
    assert sum(t.consequences for t in verdict.tables) == 2

    report = check_report(result, spec_checksum="test", launched_by="test")
    assert report.severity_counts.get("error") == 1
    assert [(i.category, i.count) for i in report.top_issues] == [("value_mismatch", 1)]
    markdown = render_markdown(report)
    assert "Consequences" in markdown and "value_mismatch → rule_violation" in markdown


def test_a_violation_the_source_already_had_is_not_a_consequence(
    pg_db: PgDatabase, pg_db2: PgDatabase
) -> None:
    # Order 7 was negative before the migration (a refund): reconciliation sees no difference
    # there, so its rule violation stays an error of its own, next to the changed order 2.
    pg_db.execute(*_orders("orders", "total", {7: "-1.00"}))
    pg_db2.execute(*_orders("orders", "total", {7: "-1.00", 2: "-5.00"}))
    rule = {"name": "not_negative", "table": "orders", "check": "total >= 0"}
    result = run_check(_spec(pg_db, pg_db2, TableMapping(source="orders"), rule))

    violations = {
        f.key["id"]: f for f in result.all_findings if f.category is Category.RULE_VIOLATION and f.key
    }
    assert (violations[2].severity, violations[2].caused_by) == (Severity.INFO, "value_mismatch")
    assert (violations[7].severity, violations[7].caused_by) == (Severity.ERROR, None)
    assert sum(t.errors for t in result.verdict.tables) == 2


def test_a_lost_child_row_explains_its_parent_aggregate_violation(
    pg_db: PgDatabase, pg_db2: PgDatabase
) -> None:
    # An order line lost in the load: the order's total no longer adds up, in another table.
    tables = (
        "CREATE TABLE orders (id integer PRIMARY KEY, total numeric(10,2))",
        "CREATE TABLE order_items (order_id integer, line integer, amount numeric(10,2), PRIMARY KEY (order_id, line))",
        "INSERT INTO orders SELECT i, 2 * i FROM generate_series(1, 6) i",
        "INSERT INTO order_items SELECT o, l, o FROM generate_series(1, 6) o, generate_series(1, 2) l",
    )
    pg_db.execute(*tables)
    pg_db2.execute(*tables, "DELETE FROM order_items WHERE order_id = 3 AND line = 2")
    rule = {
        "name": "total_adds_up",
        "kind": "aggregate",
        "table": "orders",
        "key": ["id"],
        "value": "total",
        "child_table": "order_items",
        "child_key": ["order_id"],
        "child_value": "amount",
    }
    spec = _spec(pg_db, pg_db2, TableMapping(source="orders"), rule)
    spec = spec.model_copy(update={"tables": [*spec.tables, TableMapping(source="order_items")]})
    result = run_check(spec)

    found = _by_category(result.all_findings)
    assert [(f.table, f.severity, f.key) for f in found["missing_row"]] == [
        ("order_items", Severity.ERROR, {"order_id": 3, "line": 2})
    ]
    assert [(f.table, f.severity, f.caused_by, f.key) for f in found["rule_violation"]] == [
        ("orders", Severity.INFO, "missing_row", {"id": 3})
    ]
    assert [(f.table, f.caused_by) for f in found["checksum_mismatch"]] == [("order_items", "missing_row")]
    assert sum(t.errors for t in result.verdict.tables) == 1


def test_the_report_files_findings_under_the_table_the_check_did(
    pg_db: PgDatabase, pg_db2: PgDatabase
) -> None:
    # Tables renamed in a chain: customer became customers and the old customers became
    # customers_legacy. The legacy table's own violation (a refund the source already held) is
    # reported under customers by the check; the report must not rename it a second time, onto customer.
    pg_db.execute(*_orders("customer", "total", {}), *_orders("customers", "total", {7: "-1.00"}))
    pg_db2.execute(*_orders("customers", "total", {}), *_orders("customers_legacy", "total", {7: "-1.00"}))
    rule = {"name": "not_negative", "table": "customers_legacy", "check": "total >= 0"}
    spec = _spec(pg_db, pg_db2, TableMapping(source="customer", target="customers"), rule)
    spec = spec.model_copy(
        update={"tables": [*spec.tables, TableMapping(source="customers", target="customers_legacy")]}
    )
    result = run_check(spec)
    checked = [(f.table, f.key) for f in result.all_findings if f.category is Category.RULE_VIOLATION]
    assert checked == [("customers", {"id": 7})]

    report = check_report(result, spec_checksum="test", launched_by="test")
    reported = [(f.table, f.key) for f in report.all_findings() if f.category is Category.RULE_VIOLATION]
    assert reported == checked
    assert report.decision is not None
    assert {t.table: t.state for t in report.decision.tables} == {
        t.table: t.state for t in result.verdict.tables
    }
