"""caused_by reads an integrity finding's table as a target name: when one table's target name is
another table's source name, each finding is weighed against its own table's differences."""

from __future__ import annotations

import pytest

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.consequences import link_consequences
from pm_pipeline.core.findings import Category, Finding, Severity, TableReconciliation


def _reconciled(table: str, target: str, *, missing: int) -> TableReconciliation:
    return TableReconciliation(
        table=table,
        target_table=target,
        key_columns=("id",),
        keyless=False,
        source_rows=10,
        target_rows=10 - missing,
        matched_rows=10 - missing,
        missing_rows=missing,
        extra_rows=0,
        duplicate_keys_source=0,
        duplicate_keys_target=0,
        changed_rows=0,
        rows_equal_under_rule=0,
        compared_columns=1,
        columns=(),
        findings=(),
        strategy="arrow",
        seconds=0.0,
    )


@pytest.mark.parametrize("reverse", [False, True], ids=["spec-order", "reverse-order"])
def test_a_finding_is_weighed_against_its_own_tables_differences(reverse: bool) -> None:
    # customer became customers, the old customers became customers_legacy and lost a row. A
    # declared expectation failing on the target customers is customer's own defect: the row lost
    # from another table that happens to be called customers in the source explains nothing.
    mappings = [
        TableMapping(source="customer", target="customers"),
        TableMapping(source="customers", target="customers_legacy"),
    ]
    tables = [
        _reconciled("customer", "customers", missing=0),
        _reconciled("customers", "customers_legacy", missing=1),
    ]
    if reverse:
        mappings, tables = mappings[::-1], tables[::-1]
    failed = Finding(
        table="customers",
        category=Category.EXPECTATION_FAILED,
        severity=Severity.ERROR,
        column="total",
        check="integrity",
    )
    lost = Finding(
        table="customers_legacy",
        category=Category.EXPECTATION_FAILED,
        severity=Severity.ERROR,
        column="total",
        check="integrity",
    )
    linked = link_consequences([failed, lost], tables=tables, mappings=mappings)
    assert [(f.severity, f.caused_by) for f in linked] == [
        (Severity.ERROR, None),
        (Severity.INFO, "missing_row"),
    ]
