"""The executive summary's ranking by business impact and the actions that fix the most."""

from __future__ import annotations

from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.core.report.impact import fix_actions, impact_tier
from pm_pipeline_tests.core.report.support import EXTRA_FINDINGS, sample_report


def _finding(category: Category, **fields: object) -> Finding:
    return Finding(table="orders", category=category, severity=Severity.ERROR, **fields)  # type: ignore[arg-type]


def test_money_and_time_changes_outrank_other_changed_values() -> None:
    assert impact_tier(_finding(Category.MISSING_ROW)) == 0
    assert impact_tier(_finding(Category.VALUE_MISMATCH, source_canonical="404.81")) == 1
    assert impact_tier(_finding(Category.VALUE_MISMATCH, source_canonical="2023-02-20T09:54:00+00:00")) == 1
    assert impact_tier(_finding(Category.SYSTEMATIC_SHIFT)) == 1
    assert impact_tier(_finding(Category.VALUE_MISMATCH, source_canonical="Edinburgh ")) == 2
    assert impact_tier(_finding(Category.VALUE_MISMATCH, source_canonical=3)) == 2
    assert impact_tier(_finding(Category.FOREIGN_KEY_MISSING)) == 3
    assert impact_tier(_finding(Category.INDEX_MISSING)) == 4
    assert impact_tier(_finding(Category.EXPECTATION_FAILED)) == 5


def test_a_foreign_key_is_one_issue_however_it_is_reported() -> None:
    fk = dict(column="customer_id", check="integrity")
    extra = (
        _finding(Category.FOREIGN_KEY_MISSING, message="foreign key (customer_id) is missing", **fk),
        _finding(Category.ORPHAN_ROW, key={"order_id": 43}, message="order 43 is orphaned", **fk),
        _finding(Category.ORPHAN_ROW, key={"order_id": 44}, message="order 44 is orphaned", **fk),
    )
    report = sample_report(extra_findings=EXTRA_FINDINGS + extra)
    on_key = [i for i in report.top_issues if (i.table, i.column) == ("orders", "customer_id")]
    assert len(on_key) == 1
    assert on_key[0].category == "foreign_key_missing"
    assert on_key[0].count == 3  # the sample's orphan (order 42) and these two
    assert on_key[0].example == "foreign key (customer_id) is missing"


def test_consequences_and_expectations_never_lead() -> None:
    noise = (
        *(
            _finding(Category.EXPECTATION_FAILED, column="total", check="integrity", message=f"rule {n}")
            for n in range(20)
        ),
        _finding(Category.CHECKSUM_MISMATCH, caused_by="missing_row", check="integrity"),
    )
    report = sample_report(extra_findings=EXTRA_FINDINGS + noise)
    categories = [i.category for i in report.top_issues]
    assert "checksum_mismatch" not in categories
    assert categories[:3] == ["missing_row", "value_mismatch", "value_mismatch"]


def test_actions_name_where_and_are_ordered_by_what_they_clear() -> None:
    consequences = tuple(
        _finding(Category.ORPHAN_ROW, caused_by="missing_row", column="customer_id", check="integrity")
        for _ in range(4)
    )
    report = sample_report(extra_findings=EXTRA_FINDINGS + consequences)
    actions = fix_actions(report)
    assert actions[0].text == "Load the missing rows again: accounts (1), customers (1)"
    assert actions[0].fixes == 2 + 4
    assert [a.fixes for a in actions] == sorted((a.fixes for a in actions), reverse=True)
    assert any(a.text.startswith("Correct the conversion of: customers.balance (1)") for a in actions)
