"""What a column's declared type holds on its engine: integer range, mantissa bits and
fractional-second digits, with each engine's defaults for a declaration that does not say."""

from __future__ import annotations

import re

from pm_pipeline.core.connectors.schema import Column
from pm_pipeline.core.schema.type_map import dialect_of

# Longest names first so 'bigint' is not read as 'int'.
_INT_NAMES = (
    ("bigserial", 64), ("smallserial", 16), ("bigint", 64), ("smallint", 16), ("tinyint", 8),
    ("mediumint", 24), ("hugeint", 128), ("integer", 32), ("serial", 32), ("int8", 64), ("int4", 32),
    ("int2", 16), ("int", 32),
)  # fmt: skip


def int_bits(col: Column, engine: str) -> int | None:
    # Some engines report decimal digits as the precision of an integer; only bit widths count.
    if col.precision in (8, 16, 24, 32, 64, 128):
        return col.precision
    name = col.data_type.strip().lower()
    name = name[1:] if name.startswith("u") and not name.startswith("uuid") else name
    for prefix, bits in _INT_NAMES:
        if name.startswith(prefix):
            return bits
    return dialect_of(engine).default_integer_bits


def int_range(col: Column, engine: str) -> tuple[int, int] | None:
    year_range = dialect_of(engine).year_range
    if year_range is not None and col.data_type.strip().lower().startswith("year"):
        return year_range
    bits = int_bits(col, engine)
    if bits is None:
        return None
    unsigned = col.unsigned or bool(re.match(r"^u(tiny|small|big|huge)?int", col.data_type.strip().lower()))
    return (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


# SQLite stores any integer in up to 64 bits whatever its declared name: as a target, that is the
# range it holds (as a source, the declared name says what its values were meant to be).
_DYNAMIC_STORAGE = (-(2**63), 2**63 - 1)


def stored_int_range(col: Column, engine: str) -> tuple[int, int] | None:
    """What an integer column of ``engine`` holds as a target: its declared range, or any 64-bit
    integer where the engine types values dynamically."""
    return _DYNAMIC_STORAGE if dialect_of(engine).dynamic_typing else int_range(col, engine)


def float_bits(col: Column, engine: str) -> int:
    if col.precision in (24, 53):
        return col.precision
    name = col.data_type.strip().lower()
    if any(word in name for word in ("double", "float8", "float64")):
        return 53
    if any(word in name for word in ("real", "float4", "float32")):
        return dialect_of(engine).real_bits if name.startswith("real") else 24
    return dialect_of(engine).unsized_float_bits


def fractional_digits(col: Column, engine: str) -> int | None:
    return col.precision if col.precision is not None else dialect_of(engine).default_fractional_digits
