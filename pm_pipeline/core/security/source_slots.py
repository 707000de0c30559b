"""At most N checks at once against one source database, across processes: one lock file per slot.

The command line's counterpart of the Dagster run queue's ``pm/source`` limit: a check takes a
free slot of its source (an exclusive ``flock`` on one of N files named by the source's tag),
waits for one when all are taken, and is refused with the reason once its wait is over. A
process that dies releases its slot with its file descriptors, so a crash never leaks one.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pm_pipeline.core.errors import BadInputError, SystemFailure
from pm_pipeline.core.security.tenants import source_tag

_POLL_SECONDS = 0.2


def default_lock_dir() -> Path:
    return Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp") / "pm-pipeline-source-slots"


def _try_slots(paths: list[Path]) -> tuple[int, int] | None:
    """(slot number, open descriptor holding its lock), or None when every slot is taken."""
    for number, path in enumerate(paths):
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            continue
        return number, descriptor
    return None


@contextmanager
def source_slot(
    url: str,
    *,
    limit: int,
    lock_dir: Path | None = None,
    wait_seconds: float = 600.0,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[int]:
    """Hold one of ``limit`` slots of the source at ``url`` while the block runs; yields the slot's number."""
    if limit < 1:
        raise BadInputError(f"runs per source: {limit}: expected a whole number of runs, at least 1")
    folder = lock_dir or default_lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tag = source_tag(url)
    paths = [folder / f"{tag}.{number}.lock" for number in range(limit)]
    deadline = time.monotonic() + wait_seconds
    taken = _try_slots(paths)
    if taken is None and on_wait is not None:
        on_wait(
            f"{limit} check(s) are already reading source {tag}; waiting up to {wait_seconds:g} s for one to end"
        )
    while taken is None:
        if time.monotonic() >= deadline:
            raise SystemFailure(
                f"source {tag}: {limit} check(s) already running against it (the limit); waited "
                f"{wait_seconds:g} s, none ended. Try again later or raise --runs-per-source"
            )
        time.sleep(_POLL_SECONDS)
        taken = _try_slots(paths)
    slot, descriptor = taken
    try:
        yield slot
    finally:
        os.close(descriptor)
