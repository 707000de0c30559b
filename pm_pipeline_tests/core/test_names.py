"""Name matching for a run: normalised names, unambiguous pairings only, and column maps that pair
columns exactly as plan_table does (renames, then the name, then its case-folded match)."""

from __future__ import annotations

import pytest

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors.schema import Column, TableSchema, TypeFamily
from pm_pipeline.core.findings import Category, ColumnStats, Finding, Severity, TableReconciliation
from pm_pipeline.core.names import (
    column_map,
    in_source_names,
    match_by_key,
    name_key,
    names_from_tables,
    resolve_columns,
    run_names,
)
from pm_pipeline.core.schema.renames import name_similarity


def _table(name: str, *columns: str) -> TableSchema:
    return TableSchema(name, tuple(Column(c, "int", TypeFamily.INTEGER) for c in columns))


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("OrderItems", "order_items"),  # PascalCase -> snake_case (SQL Server / MySQL -> PostgreSQL)
        ("orderItems", "order_items"),  # camelCase from an ORM
        ("Order-Items", "order_items"),  # separators in a quoted name
        ("ORDER_ITEMS", "order_items"),  # upper case from Oracle-style DDL
        ("CustomerID", "customer_id"),  # an acronym kept in capitals
    ],
)
def test_convention_renames_share_a_key(left: str, right: str) -> None:
    assert name_key(left) == name_key(right)


def test_different_names_do_not_share_a_key() -> None:
    assert name_key("order_item") != name_key("order_items")
    assert name_key("line_no") != name_key("line_number")


def test_only_unambiguous_pairs_are_matched() -> None:
    # Two target columns normalise alike: guessing would compare the wrong data, so neither is paired.
    assert match_by_key(["OrderId", "LineNo"], ["order_id", "orderid", "line_no"]) == {"LineNo": "line_no"}
    # Two source columns normalise alike: same rule the other way.
    assert match_by_key(["OrderId", "order_id"], ["orderId"]) == {}
    assert match_by_key(["--"], ["__"]) == {}


def test_column_map_pairs_like_plan_table() -> None:
    source = _table("Orders", "OrderId", "CustomerID", "Note", "Legacy")
    target = _table("orders", "order_id", "customerid", "remark")
    mapping = TableMapping(source="Orders", target="orders", renames={"Note": "Remark"}, ignore=["Legacy"])
    # The rename is found up to case, CustomerID up to case; OrderId is not a declared or folded match.
    assert column_map(mapping, source, target) == {"CustomerID": "customerid", "Note": "remark"}


def test_run_names_resolve_parent_tables_and_columns() -> None:
    customers = TableMapping(source="Customers", target="clients", renames={"CustomerId": "client_no"})
    names = run_names(
        [customers, TableMapping(source="Orders", target="orders")],
        {"Customers": (_table("Customers", "CustomerId", "Name"), _table("clients", "client_no", "name"))},
    )
    assert names.target_table("Customers") == "clients"
    assert names.target_table("customers") == "clients"  # a foreign key may spell its parent in another case
    assert names.target_columns("Customers", ["CustomerId", "Name"]) == ("client_no", "name")
    assert names.target_columns("Customers", ["Missing"]) is None
    # Without schemas a table keeps its declared renames and other names as they are.
    assert names.target_columns("Orders", ["OrderId"]) == ("OrderId",)
    assert names.target_table("Products") is None
    assert names_from_tables({"A": "a"}).target_columns("A", ["X"]) == ("X",)


def test_resolve_columns_in_the_target() -> None:
    available = ("order_id", "line_no", "Quantity")
    assert resolve_columns(["OrderId", "LINE_NO", "quantity"], available) == (
        "order_id",
        "line_no",
        "Quantity",
    )
    assert resolve_columns(["OrderId", "Price"], available) is None


def test_a_convention_rename_is_a_perfect_name_suggestion() -> None:
    # A PostgreSQL-folded 'customerid' is the same name as 'CustomerId', not a 0.6 guess.
    assert name_similarity("customerid", "CustomerId") == 1.0
    assert name_similarity("customerid", "customer_name") < 1.0


def _reconciled(table: str, target: str, keys: tuple[str, ...], pairs: dict[str, str]) -> TableReconciliation:
    return TableReconciliation(
        table=table,
        target_table=target,
        key_columns=keys,
        keyless=False,
        source_rows=1,
        target_rows=1,
        matched_rows=1,
        missing_rows=0,
        extra_rows=0,
        duplicate_keys_source=0,
        duplicate_keys_target=0,
        changed_rows=0,
        rows_equal_under_rule=0,
        compared_columns=len(pairs),
        columns=tuple(ColumnStats(column=s, target_column=t) for s, t in pairs.items()),
        findings=(),
        strategy="arrow",
        seconds=0.0,
    )


def test_integrity_findings_speak_the_source_names_of_their_table_column_and_key():
    # An orphan found in the target of a PascalCase -> snake_case migration must be reported where
    # reconciliation reports that table's rows (Orders / CustomerId / OrderId), not twice under two names.
    mapping = TableMapping(source="Orders", target="orders", renames={"OrderId": "order_id"})
    table = _reconciled("Orders", "orders", ("OrderId",), {"CustomerId": "customerid", "Total": "total"})
    orphan = Finding(
        table="orders",
        category=Category.ORPHAN_ROW,
        severity=Severity.ERROR,
        column="customerid",
        key={"order_id": 8},
        check="integrity",
    )
    ranged = Finding(
        table="orders",
        category=Category.EXPECTATION_FAILED,
        severity=Severity.ERROR,
        column="total, customerid",
        check="integrity",
    )
    schema = Finding(
        table="Orders", category=Category.COLUMN_MISSING, severity=Severity.ERROR, column="x", check="schema"
    )
    renamed = in_source_names([orphan, ranged, schema], tables=[table], mappings=[mapping])
    assert (renamed[0].table, renamed[0].column, renamed[0].key) == ("Orders", "CustomerId", {"OrderId": 8})
    assert (renamed[1].table, renamed[1].column) == ("Orders", "Total, CustomerId")
    assert renamed[2] == schema  # other checks already speak source names


def test_names_no_mapping_knows_are_kept():
    outside = Finding(
        table="audit_log",
        category=Category.ORPHAN_ROW,
        severity=Severity.ERROR,
        column="who",
        check="integrity",
    )
    assert in_source_names([outside], mappings=[TableMapping(source="Orders", target="orders")]) == (outside,)
