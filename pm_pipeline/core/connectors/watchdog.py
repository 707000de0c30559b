"""One thread that ends blocked database calls past their deadline.

A blocked driver call cannot be timed out from its own thread: the watchdog breaks its connection
or interrupts its engine from another. Arming and disarming cost a lock and a heap push (a few
microseconds), not a thread per call: metadata queries run by the hundred.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator


class _Armed:
    __slots__ = ("cancelled", "expire", "fired", "firing")

    def __init__(self, expire: Callable[[], None]) -> None:
        self.expire = expire
        self.cancelled = False
        self.fired = False
        self.firing = False  # expire() is running: its block must not end before it has


class _Deadlines:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int, _Armed]] = []
        self._order = itertools.count()
        self._cancelled = 0
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, expire: Callable[[], None]) -> _Armed:
        armed = _Armed(expire)
        entry = (time.monotonic() + seconds, next(self._order), armed)
        with self._lock:
            earliest = not self._heap or entry < self._heap[0]
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pm-watchdog", daemon=True)
                self._thread.start()
            elif earliest:  # only a new earliest deadline changes how long the thread sleeps
                self._lock.notify()
        return armed

    def disarm(self, armed: _Armed) -> None:
        """Cancel ``armed``; if its expiry has begun, wait until it is done, so that it cannot reach
        the next statement on the connection its block hands back."""
        with self._lock:
            armed.cancelled = True
            while armed.firing:
                self._lock.wait()
            self._cancelled += 1
            # Deadlines far ahead would pile up: drop the cancelled ones once they are the most.
            if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._heap:
                    self._lock.wait()
                when, _, armed = self._heap[0]
                if armed.cancelled:
                    heapq.heappop(self._heap)
                    self._cancelled = max(0, self._cancelled - 1)
                    continue
                delay = when - time.monotonic()
                if delay > 0:
                    self._lock.wait(delay)
                    continue
                heapq.heappop(self._heap)
                # Decided under the lock: a block disarmed first is never expired, and one
                # expired first waits in disarm until expire() has returned.
                armed.fired = armed.firing = True
            try:
                with contextlib.suppress(Exception):  # the connection may already be gone
                    armed.expire()
            finally:
                with self._lock:
                    armed.firing = False
                    self._lock.notify_all()


_DEADLINES = _Deadlines()


@contextlib.contextmanager
def watchdog(seconds: float | None, expire: Callable[[], None]) -> Iterator[Callable[[], bool]]:
    """Call ``expire`` from the watchdog's thread if the block is still running after ``seconds``;
    yields a function telling whether it did."""
    if not seconds:
        yield lambda: False
        return
    armed = _DEADLINES.arm(seconds, expire)
    try:
        yield lambda: armed.fired
    finally:
        _DEADLINES.disarm(armed)
