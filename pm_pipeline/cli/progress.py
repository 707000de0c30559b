"""The check's progress on the terminal: one rich bar per table."""

from __future__ import annotations

import threading
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pm_pipeline.core.reconcile.stash import Progress as BatchProgress


def progress_bar(console: Console, *, enabled: bool, get_time: Callable[[], float] | None = None) -> Progress:
    """One bar per table: rows read (of the expected), time spent and the time remaining."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[rows]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=True,
        get_time=get_time,
    )


def _rows_text(done: int, expected: int | None) -> str:
    return f"{done:,} rows" if expected is None else f"{done:,} / ~{expected:,} rows"


def _finished_text(done: int, expected: int | None) -> str:
    if expected is None or done >= expected:
        return _rows_text(done, expected)
    # Fewer rows than announced: a smaller table than estimated, or a strategy that compared
    # checksums and read only the rows of the differing buckets.
    return f"done: {done:,} rows read of ~{expected:,}"


class TableBars:
    """The check's progress as rich bars. The expected rows are an estimate: a bar whose table holds
    more rows grows with them, and a finished table's bar is complete whatever was announced (its
    text then says how many rows were read when that is fewer than announced)."""

    def __init__(self, bar: Progress) -> None:
        self._bar = bar
        self._tasks: dict[str, tuple[TaskID, int | None]] = {}
        self._lock = threading.Lock()  # the source and target are read by two threads

    def start_table(self, table: str, expected_rows: int | None) -> BatchProgress:
        task = self._bar.add_task(escape(table), total=expected_rows, rows=_rows_text(0, expected_rows))
        self._tasks[table] = (task, expected_rows)

        def advance(side: str, rows: int) -> None:
            with self._lock:
                done = int(self._bar.tasks[task].completed) + rows
                total = self._bar.tasks[task].total
                grown = None if total is None else max(int(total), done)
                self._bar.update(task, completed=done, total=grown, rows=_rows_text(done, expected_rows))

        return advance

    def finish_table(self, table: str) -> None:
        task, expected_rows = self._tasks[table]
        with self._lock:
            done = int(self._bar.tasks[task].completed)
            self._bar.update(task, completed=done, total=done, rows=_finished_text(done, expected_rows))
