"""`pm-pipeline check` progress: a bar per table with rows read against the connectors' estimates and
a time remaining, complete at the end even when the estimate was wrong."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from pm_pipeline.clitools import TableBars, progress_bar, run_cli_check
from pm_pipeline.core.config import load_spec
from pm_pipeline.core.connectors import connect
from pm_pipeline_tests.test_definitions import TABLES, demo_copy


class Clock:
    """The bar's time source, moved by the test (rich computes speed and ETA from it)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _terminal() -> Console:
    return Console(file=io.StringIO(), record=True, force_terminal=True, width=120)


def test_a_bar_shows_rows_of_the_estimate_and_the_time_remaining() -> None:
    console, clock = _terminal(), Clock()
    with progress_bar(console, enabled=True, get_time=clock) as bar:
        bars = TableBars(bar)
        advance = bars.start_table("orders", 1000)
        clock.now = 1.0
        advance("source", 250)
        clock.now = 2.0
        advance("target", 250)
        bar.refresh()
        # 250 rows a second, 500 rows to go.
        assert re.search(r"orders +━+╺?━* +500 / ~1,000 rows 0:00:02 0:00:02", console.export_text())
        bars.finish_table("orders")
        assert bar.tasks[0].finished


def test_a_table_larger_than_its_estimate_grows_its_bar_and_completes() -> None:
    with progress_bar(_terminal(), enabled=True, get_time=Clock()) as bar:
        bars = TableBars(bar)
        advance = bars.start_table("orders", 100)
        advance("source", 80)
        advance("target", 80)
        assert (bar.tasks[0].completed, bar.tasks[0].total) == (160, 160)
        bars.finish_table("orders")
        assert bar.tasks[0].finished


def test_a_table_smaller_than_its_estimate_completes_when_it_is_done() -> None:
    with progress_bar(_terminal(), enabled=True, get_time=Clock()) as bar:
        bars = TableBars(bar)
        advance = bars.start_table("orders", 1000)
        advance("source", 10)
        assert not bar.tasks[0].finished
        bars.finish_table("orders")
        assert (bar.tasks[0].completed, bar.tasks[0].total) == (10, 10)
        assert bar.tasks[0].finished


def test_without_an_estimate_the_bar_counts_rows() -> None:
    console = _terminal()
    with progress_bar(console, enabled=True, get_time=Clock()) as bar:
        bars = TableBars(bar)
        bars.start_table("orders", None)("source", 1234)
        bar.refresh()
        text = console.export_text()
        assert re.search(r"orders +━+ +1,234 rows 0:00:00", text) and "/ ~" not in text


def test_check_shows_every_table_with_its_rows_against_the_estimates(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    paths = demo_copy(tmp_path_factory.getbasetemp(), tmp_path / "demo")
    console = _terminal()
    run_cli_check(
        spec_path=paths.spec,
        source_url=None,
        target_url=None,
        tables=None,
        json_path=None,
        html_path=None,
        reports_dir=None,
        show_progress=True,
        progress_console=console,
    )
    spec = load_spec(paths.spec)
    text = console.export_text()
    with connect(spec.source.url) as source, connect(spec.target.url) as target:
        for table in TABLES:
            rows = source.row_count(table) + target.row_count(table)
            estimate = (source.estimate_rows(table) or 0) + (target.estimate_rows(table) or 0)
            # The last frame drawn: the table complete, its rows read of the announced estimate.
            frames = re.findall(rf"{table} +━+ +([\d,]+) / ~([\d,]+) rows +\d:\d\d:\d\d \d:\d\d:\d\d", text)
            assert frames, f"no bar for {table} in {text!r}"
            assert frames[-1] == (f"{rows:,}", f"{estimate:,}")


def test_no_bar_without_progress(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    paths = demo_copy(tmp_path_factory.getbasetemp(), tmp_path / "demo")
    console = _terminal()
    run_cli_check(
        spec_path=paths.spec,
        source_url=None,
        target_url=None,
        tables=["products"],
        json_path=None,
        html_path=None,
        reports_dir=None,
        show_progress=False,
        progress_console=console,
    )
    assert console.export_text() == ""
