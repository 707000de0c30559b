"""Progress of a reconciliation in the run's log: rows read per side against the rows expected
(:func:`pm_pipeline.core.run.expected_rows_per_side`), and a closing line with what was found."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from pm_pipeline.core.findings import TableReconciliation

UNKNOWN_SIZE_STEP = 1_000_000  # without an estimate, a line every million rows per side
STEPS = 10  # with one, a line at every tenth of the expected rows


class ProgressLog:
    """The per-batch callback of a reconciliation that writes a line to ``log`` each time a side
    crosses a tenth of its expected rows (or another million rows, when nothing is expected)."""

    def __init__(self, label: str, expected: Mapping[str, int | None], log: Callable[[str], None]) -> None:
        self.label = label
        self.expected = dict(expected)
        self.log = log
        self.done = dict.fromkeys(self.expected, 0)
        self._lock = threading.Lock()  # both sides report from their own threads

    def __call__(self, side: str, rows: int) -> None:
        with self._lock:
            before = self.done[side]
            self.done[side] = before + rows
            step = self._step(side)
            if before // step != self.done[side] // step:
                self.log(self.message())

    def _step(self, side: str) -> int:
        expected = self.expected[side]
        return max(-(-expected // STEPS), 1) if expected else UNKNOWN_SIZE_STEP

    def message(self) -> str:
        parts = []
        for side, done in self.done.items():
            expected = self.expected[side]
            if expected:
                parts.append(f"{side} {done:,} / ~{expected:,} rows ({min(done / expected, 1):.0%})")
            else:
                parts.append(f"{side} {done:,} rows")
        return f"{self.label}: " + ", ".join(parts)

    def finished(self, result: TableReconciliation) -> str:
        """The closing line: what the reconciliation found, the rows it streamed when that is fewer
        than the table holds (a strategy that reads only differing buckets), and why that strategy."""
        read = sum(self.done.values())
        streamed = f", {read:,} rows streamed" if read < result.source_rows + result.target_rows else ""
        note = f"; {result.strategy_note}" if result.strategy_note else ""
        return (
            f"{self.label}: done, {result.source_rows:,} source and {result.target_rows:,} target rows; "
            f"{result.missing_rows} missing, {result.extra_rows} extra, {result.changed_rows} changed "
            f"({result.strategy}, {result.seconds:.1f} s{streamed}{note})"
        )
