"""`pm-pipeline check` progress: a bar per table with rows read against the connectors' estimates and
a time remaining, complete at the end even when the estimate was wrong or the strategy read only
the differing buckets (and then saying so), and no estimates at all without a bar."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from rich.console import Console
from rich.progress import Progress

from pm_pipeline.cli.check_run import run_cli_check
from pm_pipeline.cli.progress import TableBars, progress_bar
from pm_pipeline.core import run as run_module
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


@contextlib.contextmanager
def _bars(console: Console | None = None, clock: Clock | None = None) -> Iterator[tuple[Progress, TableBars]]:
    """Bars shown on ``console`` (a terminal of its own by default), timed by ``clock``."""
    console = console if console is not None else _terminal()
    with progress_bar(console, enabled=True, get_time=clock if clock is not None else Clock()) as bar:
        yield bar, TableBars(bar)


def _check(
    console: Console,
    *,
    spec: Path | None = None,
    source: str | None = None,
    target: str | None = None,
    tables: list[str] | None = None,
    show_progress: bool = True,
    strategy: str = "auto",
    integrity: bool = True,
) -> bool:
    """`pm-pipeline check` without report files, its progress drawn on ``console``."""
    return run_cli_check(
        spec_path=spec,
        source_url=source,
        target_url=target,
        tables=tables,
        json_path=None,
        html_path=None,
        reports_dir=None,
        show_progress=show_progress,
        progress_console=console,
        strategy=strategy,
        integrity=integrity,
        write_reports_set=False,
    )


def test_a_bar_shows_rows_of_the_estimate_and_the_time_remaining() -> None:
    console, clock = _terminal(), Clock()
    with _bars(console, clock) as (bar, bars):
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
    with _bars() as (bar, bars):
        advance = bars.start_table("orders", 100)
        advance("source", 80)
        advance("target", 80)
        assert (bar.tasks[0].completed, bar.tasks[0].total) == (160, 160)
        bars.finish_table("orders")
        assert bar.tasks[0].finished


def test_a_table_smaller_than_its_estimate_completes_when_it_is_done() -> None:
    with _bars() as (bar, bars):
        advance = bars.start_table("orders", 1000)
        advance("source", 10)
        assert not bar.tasks[0].finished
        bars.finish_table("orders")
        assert (bar.tasks[0].completed, bar.tasks[0].total) == (10, 10)
        assert bar.tasks[0].finished


def test_without_an_estimate_the_bar_counts_rows() -> None:
    console = _terminal()
    with _bars(console) as (bar, bars):
        bars.start_table("orders", None)("source", 1234)
        bar.refresh()
        text = console.export_text()
        assert re.search(r"orders +━+ +1,234 rows 0:00:00", text) and "/ ~" not in text


def test_check_shows_every_table_with_its_rows_against_the_estimates(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    paths = demo_copy(tmp_path_factory.getbasetemp(), tmp_path / "demo")
    console = _terminal()
    _check(console, spec=paths.spec)
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
    _check(console, spec=paths.spec, tables=["products"], show_progress=False)
    assert console.export_text() == ""


def test_a_table_that_read_fewer_rows_than_announced_ends_complete_and_says_so() -> None:
    console = _terminal()
    with _bars(console) as (bar, bars):
        bars.start_table("orders", 2_000_000)("source", 880)
        bars.finish_table("orders")
        bar.refresh()
        assert bar.tasks[0].finished
        assert re.search(
            r"orders +━+ +done: 880 rows read of ~2,000,000 +0:00:00 0:00:00\s*$", console.export_text()
        )


def _duckdb_pair(directory: Path) -> tuple[str, str]:
    """A table of 5,000 rows on both sides, one value changed: the bucket strategy reads little."""
    urls = []
    for name in ("source", "target"):
        path = directory / f"{name}.duckdb"
        with duckdb.connect(str(path)) as connection:
            connection.execute("CREATE TABLE orders (id BIGINT PRIMARY KEY, note VARCHAR)")
            connection.execute("INSERT INTO orders SELECT g, 'n' || g FROM range(1, 5001) t(g)")
            if name == "target":
                connection.execute("UPDATE orders SET note = 'x' WHERE id = 77")
        urls.append(f"duckdb:///{path}")
    return urls[0], urls[1]


def test_a_check_that_reads_only_differing_buckets_ends_complete_with_the_strategys_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, target = _duckdb_pair(tmp_path)
    console = _terminal()
    _check(console, source=source, target=target, tables=["orders"], strategy="bucket", integrity=False)
    frames = re.findall(
        r"orders +━+ +done: ([\d,]+) rows read of ~10,000 +\d:\d\d:\d\d 0:00:00", console.export_text()
    )
    assert frames and 0 < int(frames[-1].replace(",", "")) < 10_000
    out = capsys.readouterr().out
    assert re.search(r"orders: bucket strategy: 1 of \d+ buckets differ", out), out


def test_no_row_estimates_are_asked_for_without_a_bar(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_estimates(**_: object) -> None:
        raise AssertionError("row estimates asked for without a progress bar")

    monkeypatch.setattr(run_module, "expected_rows", no_estimates)
    paths = demo_copy(tmp_path_factory.getbasetemp(), tmp_path / "demo")
    for show_progress, console in (
        (False, _terminal()),  # --no-progress
        (True, Console(file=io.StringIO(), record=True, width=120)),  # stderr is not a terminal
    ):
        _check(console, spec=paths.spec, tables=["products"], show_progress=show_progress, integrity=False)
        assert console.export_text() == ""
    with pytest.raises(AssertionError, match="without a progress bar"):
        _check(_terminal(), spec=paths.spec, tables=["products"], integrity=False)
