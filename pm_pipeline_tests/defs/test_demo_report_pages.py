"""The demo's reports, as the Dagster job writes them: the executive summary leads with the seeded
lost rows and changed money and time values, the evidence pack's times are the checks' own, and the
technical HTML never scrolls sideways at 1,024 or 1,920 px in headless Chromium (Playwright)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline_tests.test_definitions import TABLES, DemoRun, failing_demo_run

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
CHROMIUM = os.environ.get("PM_CHROMIUM", "/usr/bin/chromium")
ISSUE_ROW = re.compile(r"<tr><td>\d+</td><td class=\"sev (\w+)\">\w+</td><td>([^<]*)</td><td>([^<]*)</td>")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    return failing_demo_run(tmp_path_factory.getbasetemp())


def _report_set(demo: DemoRun) -> Path:
    return (demo.paths.directory / "reports" / "latest").resolve()


def test_top_issues_lead_with_lost_rows_then_changed_money_and_time(demo: DemoRun) -> None:
    html = (_report_set(demo) / "executive-summary.html").read_text(encoding="utf-8")
    issues = [(where, what) for _, where, what in ISSUE_ROW.findall(html)]
    assert issues[:4] == [
        ("customers", "missing row"),
        ("payments", "missing row"),
        ("orders.ordered_at", "value mismatch"),  # the +1 h shift
        ("products.price", "value mismatch"),  # the lost cents
    ], issues
    assert "The actions that fix the most" in html
    assert "Load the missing rows again: customers (3), payments (1)" in html
    assert "Correct the conversion of: orders.ordered_at (1), products.price (1), " in html


def test_evidence_times_are_the_checks_own(demo: DemoRun) -> None:
    evidence = json.loads((_report_set(demo) / "evidence-pack.json").read_text(encoding="utf-8"))
    run = evidence["run"]
    times = {t["table"]: t for t in evidence["tables_checked"]}
    assert set(times) == set(TABLES)
    starts = [dt.datetime.fromisoformat(t["started_at"]) for t in times.values()]
    ends = [dt.datetime.fromisoformat(t["finished_at"]) for t in times.values()]
    assert all(start <= end for start, end in zip(starts, ends, strict=True))
    # The run's window holds every check (not just the report step's last moments).
    assert dt.datetime.fromisoformat(run["started_at"]) <= min(starts)
    assert dt.datetime.fromisoformat(run["finished_at"]) >= max(ends)
    record = demo.instance.get_run_record_by_id(demo.result.run_id)
    assert record is not None and record.start_time is not None
    assert dt.datetime.fromisoformat(run["started_at"]).timestamp() >= record.start_time - 1
    (reconciliation,) = [c for c in evidence["checks"] if c["check"] == "reconciliation"]
    assert reconciliation["started_at"] == min(starts).isoformat()
    assert reconciliation["finished_at"] == max(ends).isoformat()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = None
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    elif importlib.util.find_spec("playwright") is None:
        reason = "the playwright package is not installed: pip install -e '.[test]'"
    if reason:
        if os.environ.get("PM_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PM_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.mark.parametrize("width", [1024, 1920])
def test_the_technical_report_never_scrolls_sideways(demo: DemoRun, browser: Any, width: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto((_report_set(demo) / "report.html").as_uri())
        page.wait_for_selector("html[data-tables-ready='1']")
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        # No type name, hash or value is wrapped into a tall column: each stays on one line.
        tall = page.evaluate(
            "Array.from(document.querySelectorAll('td .clip')).filter("
            "v => v.getBoundingClientRect().height > 24).map(v => v.textContent)"
        )
        lines = page.evaluate("document.querySelectorAll('td .clip').length")
        # A clipped value (the customers' checksum) opens whole on a click, inside its section.
        clipped = page.locator("td .clip", has_text="2087159c").first
        before = clipped.evaluate("v => v.scrollWidth > v.clientWidth")
        clipped.click()
        opened = clipped.evaluate("v => v.scrollWidth <= v.clientWidth")
        after = page.evaluate("document.documentElement.scrollWidth")
    finally:
        page.close()
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px window"
    assert lines > 100 and tall == []
    assert before and opened
    assert after <= widths[1]
