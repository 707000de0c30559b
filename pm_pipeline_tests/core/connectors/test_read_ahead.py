"""``read_ahead``: a producer thread a few items ahead of its reader, errors and early closes included."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from pm_pipeline.core.connectors.base import read_ahead


class Source:
    """An iterator that records how far it was read, by which thread, and whether it was closed."""

    def __init__(self, items: int, fail_at: int | None = None) -> None:
        self.produced = 0
        self.closed = threading.Event()
        self.items = items
        self.fail_at = fail_at
        self.thread: threading.Thread | None = None

    def __iter__(self) -> Iterator[int]:
        self.thread = threading.current_thread()
        try:
            for i in range(self.items):
                if i == self.fail_at:
                    raise ValueError(f"bad item {i}")
                self.produced += 1
                yield i
        finally:
            self.closed.set()


def test_items_arrive_in_order_and_the_source_is_closed() -> None:
    source = Source(1000)
    assert list(read_ahead(iter(source), depth=2)) == list(range(1000))
    assert source.closed.is_set()


def test_an_error_reaches_the_reader_after_the_items_before_it() -> None:
    source = Source(10, fail_at=4)
    seen: list[int] = []
    with pytest.raises(ValueError, match="bad item 4"):
        for item in read_ahead(iter(source), depth=2):
            seen.append(item)
    assert seen == [0, 1, 2, 3] and source.closed.is_set()


def test_the_producer_stays_at_most_depth_items_ahead() -> None:
    source = Source(10_000)
    stream = read_ahead(iter(source), depth=3)
    assert next(stream) == 0
    time.sleep(0.2)
    # One item handed over, three queued, one more held by the producer waiting for room.
    assert source.produced <= 1 + 3 + 1
    stream.close()


def test_closing_early_stops_the_producer_and_closes_the_source() -> None:
    source = Source(10**9)
    stream = read_ahead(iter(source), depth=2)
    assert [next(stream), next(stream)] == [0, 1]
    stream.close()
    # The producer's own thread has ended (other tests' threads may come and go meanwhile).
    assert source.closed.is_set() and source.thread is not None and source.thread.name == "pm-read-ahead"
    assert not source.thread.is_alive()
    assert source.produced < 10


def test_an_interrupted_reader_does_not_leave_the_producer_running() -> None:
    source = Source(10**9)

    def read() -> None:
        for item in read_ahead(iter(source), depth=2):
            if item == 5:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        read()
    # The producer's own thread has ended (other tests' threads may come and go meanwhile).
    assert source.closed.is_set() and source.thread is not None and source.thread.name == "pm-read-ahead"
    assert not source.thread.is_alive()
