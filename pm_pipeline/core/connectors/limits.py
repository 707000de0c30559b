"""Reading a source gently: a pace for the rows streamed in, and a bound on concurrent readers.

The reader bound holds within a process (a counting semaphore per source, so threads wait their
turn without touching the file system) and across processes (an exclusive ``flock`` on one of N
files named by the source's tag, as the per-source run limit does). A process that dies releases
its files with its descriptors, so a crash never leaks a reader.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from pm_pipeline.core.config.protection import ReadLimits
from pm_pipeline.core.errors import SystemFailure

_POLL_SECONDS = 0.1
_log = logging.getLogger("pm_pipeline.source")
_semaphores: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_semaphores_guard = threading.Lock()


def paced(batches: Iterator[pa.RecordBatch], rows_per_second: float) -> Iterator[pa.RecordBatch]:
    """``batches`` cut into pieces of a quarter second's rows, each handed on no sooner than the
    pace allows: after t seconds at most ``rows_per_second * t`` rows have passed. The bounded
    read-ahead behind a stream then stops asking the server for more."""
    piece = max(1, int(rows_per_second / 4))
    started = time.monotonic()
    passed = 0
    try:
        for batch in batches:
            for start in range(0, batch.num_rows, piece):
                part = batch.slice(start, piece)
                passed += part.num_rows
                delay = started + passed / rows_per_second - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                yield part
            if batch.num_rows == 0:
                yield batch
    finally:
        # A reader that stops early ends the stream's query now, not when it is collected.
        close = getattr(batches, "close", None)
        if close is not None:
            close()


def default_lock_dir() -> Path:
    return Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp") / "pm-pipeline-source-readers"


def _semaphore(tag: str, limit: int) -> threading.BoundedSemaphore:
    with _semaphores_guard:
        return _semaphores.setdefault((tag, limit), threading.BoundedSemaphore(limit))


def _take_file_slot(paths: list[Path]) -> int | None:
    for path in paths:
        # Read-only suffices for flock, so a slot file another user created (mode 0644) still works.
        descriptor = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            continue
        return descriptor
    return None


def _say_waiting(tag: str, limits: ReadLimits) -> None:
    # A check waiting in silence for minutes looks hung.
    _log.warning(
        "source %s: %d reader(s) already reading it (source.max_readers); waiting up to %g s for one to end",
        tag,
        limits.max_readers,
        limits.readers_wait,
    )


def _refused(tag: str, limits: ReadLimits) -> SystemFailure:
    return SystemFailure(
        f"source {tag}: {limits.max_readers} reader(s) already reading it (source.max_readers); "
        f"waited {limits.readers_wait:g} s (source.readers_wait), none ended. Try again later, "
        "or raise max_readers"
    )


@contextlib.contextmanager
def reader_slot(tag: str, limits: ReadLimits, *, lock_dir: Path | None = None) -> Iterator[None]:
    """Hold one of the source's ``max_readers`` reader slots while the block runs."""
    deadline = time.monotonic() + limits.readers_wait
    semaphore = _semaphore(tag, limits.max_readers)
    if not semaphore.acquire(blocking=False):
        _say_waiting(tag, limits)
        if not semaphore.acquire(timeout=limits.readers_wait):
            raise _refused(tag, limits)
    try:
        folder = lock_dir or default_lock_dir()
        paths = [folder / f"{tag}.{number}.lock" for number in range(limits.max_readers)]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            descriptor = _take_file_slot(paths)
            if descriptor is None:
                _say_waiting(tag, limits)
            while descriptor is None:
                if time.monotonic() >= deadline:
                    raise _refused(tag, limits)
                time.sleep(_POLL_SECONDS)
                descriptor = _take_file_slot(paths)
        except OSError as exc:
            raise SystemFailure(
                f"source {tag}: cannot take a reader slot in {folder} ({exc.strerror}); "
                "set XDG_RUNTIME_DIR to a folder of your own"
            ) from None
        try:
            yield
        finally:
            os.close(descriptor)
    finally:
        semaphore.release()
