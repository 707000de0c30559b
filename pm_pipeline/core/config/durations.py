"""Durations as a spec writes them: '500ms', '1s', '2h', or a number of seconds."""

from __future__ import annotations

import datetime as dt
import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m|h|d)\s*$")
_DURATION_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str | float | int) -> dt.timedelta:
    """Parse '500ms', '1s', '2h', or a number of seconds, into a timedelta."""
    if isinstance(value, int | float):
        return dt.timedelta(seconds=float(value))
    match = _DURATION.match(value)
    if not match:
        raise ValueError(
            f"expected a duration such as '1s', '500ms', '2h' or a number of seconds, got {value!r}"
        )
    return dt.timedelta(seconds=float(match.group(1)) * _DURATION_UNITS[match.group(2)])
