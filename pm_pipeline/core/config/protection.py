"""How gently the source is read: the limits of the spec's ``source`` that protect production."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReadLimits:
    """Limits on reading one source, applied by its connectors.

    ``rows_per_second`` paces the rows streamed into the process (None: no pacing); ``max_readers``
    bounds the readers of the source at once (a check or a Dagster partition is one reader, with
    whatever connections it opens for its reads), across threads and processes, and a reader past
    it waits up to ``readers_wait`` seconds, then is refused."""

    rows_per_second: float | None = None
    max_readers: int = 4
    readers_wait: float = 600.0


DEFAULT_READ_LIMITS = ReadLimits()
