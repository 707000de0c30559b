"""The Dagster UI in a real browser (headless Chromium driven by Playwright) after a demo run, served
the way `make ui` serves it: no sign-up pop-up, the asset graph shows the groups, a failing check
shows what fails it and its metadata (match score as a percentage), the source tables are observed,
and the report asset links to the HTML report. The server is the session's shared UI
(``ui_server``), which must stop on SIGTERM when the session ends.

Screenshots are kept in the pytest temporary folder (``ui_screenshots``; the path is printed), and
copied to ``$PM_UI_SCREENSHOTS`` when it is set."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.defs.presentation import CHECK_DESCRIPTIONS
from pm_pipeline_tests.test_definitions import TABLES
from pm_pipeline_tests.ui_server import UiServer

pytestmark = pytest.mark.slow
CHROMIUM = os.environ.get("PM_CHROMIUM", "/usr/bin/chromium")
GROUPS = ("source_tables", "target_tables", "reconciliation", "integrity", "verification", "reports")
WAIT_MS = 30_000


def _missing() -> str | None:
    """Why no browser can be driven here, or None."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed: pip install -e '.[test]'"
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("PM_REQUIRE_SERVICES") == "1":
        pytest.fail(f"PM_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


# Skipped before the session's UI server is started for nothing (it is set up before this module's
# fixtures); under PM_REQUIRE_SERVICES=1 the browser fixture fails instead.
if _missing() and os.environ.get("PM_REQUIRE_SERVICES") != "1":
    pytest.skip(str(_missing()), allow_module_level=True)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("ui_screenshots")
    yield folder
    kept = os.environ.get("PM_UI_SCREENSHOTS")
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        for shot in sorted(folder.glob("*.png")):
            shutil.copy2(shot, Path(kept) / shot.name)
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"UI screenshots: {folder}" + (f" (copied to {kept})" if kept else ""))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _missing()
    if reason:
        _unavailable(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    try:
        yield opened
    finally:
        context.close()


def _open(page: Any, server: UiServer, path: str) -> None:
    page.goto(f"{server.url}{path}")
    page.wait_for_load_state("networkidle")


def test_the_asset_graph_shows_every_group_without_a_sign_up_pop_up(
    page: Any, ui_server: UiServer, shots: Path
) -> None:
    _open(page, ui_server, "/asset-groups")
    # Each group is a node of the graph's SVG (the sidebar lists them too: it does not count).
    nodes = page.locator("svg foreignObject")
    for group in GROUPS:
        nodes.filter(has=page.get_by_text(group, exact=True)).first.wait_for()
    assert nodes.count() == len(GROUPS)
    # The graph has its statuses once the first group's asset count has replaced "fetching statuses".
    page.wait_for_function("() => !document.body.innerText.includes('fetching statuses')", timeout=WAIT_MS)
    page.screenshot(path=str(shots / "asset-graph.png"))
    assert page.locator("[role='dialog']").count() == 0
    assert "newsletter" not in page.inner_text("body").lower()


def test_a_failing_check_says_what_fails_it_and_shows_its_metadata(
    page: Any, ui_server: UiServer, shots: Path
) -> None:
    # The demo changes customers' values and adds a row to orders: both checks fail.
    _open(page, ui_server, "/assets/verified/customers?view=checks&checkDetail=values_match")
    page.get_by_text("Latest execution").wait_for()
    body = page.locator("body")
    page.get_by_role("cell", name="match_score", exact=True).wait_for()
    # The description may render after the metadata table: wait for it, then read the page.
    description = CHECK_DESCRIPTIONS["values_match"][:60]
    page.wait_for_function(
        "(wanted) => document.body.innerText.replace(/\\s+/g, ' ').includes(wanted)",
        arg=description,
        timeout=WAIT_MS,
    )
    text = body.inner_text()
    assert "Failed" in text
    assert description in " ".join(text.split())
    assert "is below min_match_score" in text
    # The match score reads as a percentage, never as a raw fraction.
    score = page.locator("tr", has_text="match_score").first.inner_text()
    assert score.strip().endswith("%") and "0.99" not in score, score
    page.screenshot(path=str(shots / "failing-check-values.png"), full_page=True)

    _open(page, ui_server, "/assets/verified/orders?view=checks&checkDetail=rows_match")
    page.get_by_role("cell", name="missing_rows", exact=True).wait_for()
    for entry in ("sample_keys", "diff_path", "by_category"):
        assert page.get_by_text(entry, exact=True).count() >= 1, entry
    page.screenshot(path=str(shots / "failing-check-rows.png"), full_page=True)


def test_source_tables_are_observed_by_the_run(page: Any, ui_server: UiServer, shots: Path) -> None:
    _open(page, ui_server, "/assets/source/customers")
    page.get_by_text("row_count", exact=True).first.wait_for()
    text = page.locator("body").inner_text()
    assert "Latest observation" in text
    assert f"run {ui_server.run_id}" in text
    assert "pm_pipeline/engine: sqlite-duckdb" in text
    page.screenshot(path=str(shots / "source-asset.png"), full_page=True)


def test_the_report_asset_links_to_the_html_report(page: Any, ui_server: UiServer, shots: Path) -> None:
    _open(page, ui_server, "/assets/reports/migration_report")
    link = page.locator("a[href^='file:'][href$='.html']").first
    link.wait_for()
    href = str(link.get_attribute("href"))
    report = Path(href.removeprefix("file://"))
    assert report == (ui_server.reports / "latest" / "report.html").resolve()
    assert report.is_file()
    page.screenshot(path=str(shots / "report-asset.png"), full_page=True)
    # A web page may not open file:// links itself; the browser opens the report it points to.
    page.goto(href)
    page.wait_for_load_state("load")
    assert any(table in page.locator("body").inner_text() for table in TABLES)
    page.screenshot(path=str(shots / "html-report.png"))


def test_the_runs_page_lists_the_demo_run(page: Any, ui_server: UiServer, shots: Path) -> None:
    _open(page, ui_server, "/runs")
    page.get_by_text(ui_server.run_id[:8]).first.wait_for()
    assert "migration_check" in page.locator("body").inner_text()
    page.screenshot(path=str(shots / "runs.png"))
