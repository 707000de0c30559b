"""The watchdog that ends blocked driver calls, and read_ahead's limits on a producer that hands
over nothing: what a frozen server looks like to a connector."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest

from pm_pipeline.core.connectors.base import read_ahead
from pm_pipeline.core.connectors.watchdog import _DEADLINES, watchdog


def test_a_deadline_passed_calls_expire_once() -> None:
    called = threading.Event()
    with watchdog(0.05, called.set) as expired:
        assert called.wait(5)
        assert expired()


def test_a_block_ended_in_time_never_expires() -> None:
    calls: list[int] = []
    with watchdog(0.2, lambda: calls.append(1)) as expired:
        pass
    time.sleep(0.3)
    assert calls == [] and not expired()


def test_no_limit_never_expires() -> None:
    with watchdog(None, lambda: pytest.fail("expired without a limit")) as expired:
        assert not expired()


def test_many_disarmed_deadlines_do_not_pile_up() -> None:
    for _ in range(10_000):
        with watchdog(3600, lambda: None):
            pass
    assert len(_DEADLINES._heap) < 200


class Stuck(Exception):
    pass


def _blocked_after(items: int, release: threading.Event) -> Iterator[int]:
    yield from range(items)
    release.wait()  # a driver waiting on a server that answers nothing


@pytest.mark.parametrize("delivered", [0, 2], ids=["first-answer", "next-answer"])
def test_read_ahead_gives_up_on_a_silent_producer(delivered: int) -> None:
    release = threading.Event()
    got: list[int] = []
    started = time.monotonic()
    try:
        with pytest.raises(Stuck, match=r"0\.[23]"):
            for item in read_ahead(
                _blocked_after(delivered, release), 1, first_wait=0.3, next_wait=0.2, stuck=lambda s: Stuck(s)
            ):
                got.append(item)
    finally:
        release.set()
    assert got == list(range(delivered))
    # Without the limits this would wait forever; with them, about a second at most.
    assert time.monotonic() - started < 30


def test_read_ahead_without_limits_waits_for_a_slow_producer() -> None:
    def slow() -> Iterator[int]:
        time.sleep(0.3)
        yield 1

    assert list(read_ahead(slow(), 1)) == [1]


def test_an_expiry_never_reaches_past_the_end_of_its_block() -> None:
    # A statement ending right at its deadline once had its expiry run after the block had handed
    # the connection back: the next statement's connection was cut (or its fetch interrupted).
    on_connection: list[int | None] = [None]
    strays: list[tuple[int, int | None]] = []
    fired = 0
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # interleave the two threads as often as the interpreter can
    try:
        for statement in range(3000):
            on_connection[0] = statement

            def expire(statement: int = statement) -> None:
                time.sleep(0.0005)  # the cut lands when the expiry's work is done (a socket shut down)
                if on_connection[0] != statement:
                    strays.append((statement, on_connection[0]))

            with watchdog(0.0002, expire) as expired:
                end = time.perf_counter() + 0.0002 * (statement % 3)
                while time.perf_counter() < end:
                    pass
            fired += expired()
            on_connection[0] = None  # the connection is back in use by the next statement
    finally:
        sys.setswitchinterval(switch)
    assert strays == []
    assert fired  # the deadlines did pass: the race was run, not avoided
