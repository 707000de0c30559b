"""The technical HTML shows values as they are: white space and invisible characters made visible,
long values clipped with the whole value kept for hover, identifiers never broken mid-word."""

from __future__ import annotations

from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.core.report.html import render_technical_html
from pm_pipeline_tests.core.report.support import EXTRA_FINDINGS, sample_report


def _html(*findings: Finding) -> str:
    return render_technical_html(sample_report(extra_findings=EXTRA_FINDINGS + findings))


def _mismatch(source: str, target: str, **fields: object) -> Finding:
    return Finding(
        table="accounts",
        category=Category.VALUE_MISMATCH,
        severity=Severity.ERROR,
        column="city",
        key={"id": 9},
        source_value=source,
        target_value=target,
        **fields,  # type: ignore[arg-type]
    )


def test_a_trailing_space_and_a_zero_width_space_are_visible() -> None:
    html = _html(_mismatch("Edinburgh ", "Edin\u200bburgh"))
    assert '<span class="clip" title="Edinburgh␠">Edinburgh<span class="ws">␠</span></span>' in html
    assert 'title="Edin\\u200bburgh">Edin<span class="ws">\\u200b</span>burgh</span>' in html
    assert "\u200b" not in html


def test_empty_text_is_not_an_empty_cell() -> None:
    html = _html(_mismatch("", "x"))
    assert '<span class="ws" title="empty text">\'\'</span>' in html


def test_a_long_value_is_whole_in_its_title() -> None:
    value = "x" * 300
    html = _html(_mismatch(value, "y"))
    assert f'<span class="clip" title="{value}">{value}</span>' in html


def test_long_identifiers_wrap_only_between_their_parts() -> None:
    message = "expect_column_values_to_be_between(min_value=1, max_value=3.5) failed"
    html = _html(_mismatch("a", "b", message=message))
    assert "expect_<wbr>column_<wbr>values_<wbr>to_<wbr>be_<wbr>between(<wbr>min_<wbr>value=<wbr>1" in html
    assert "3.5" in html  # a number is never split
    assert "word-break: break-all" not in html
