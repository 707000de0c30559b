"""Tolerance bins in SQL: a value compared with a relative tolerance, hashed as its bin.

Two values in the same bin are always within tolerance (the bin width is half the tolerance at
the value's magnitude), so equal bucket checksums never hide a difference; values within
tolerance but in different bins only send their bucket to the row-level comparison. A bin is
the value's decade and its bin number inside that decade; zero, NULL, NaN and ±infinity have
their own bins.
"""

from __future__ import annotations

from pm_pipeline.core.dialects import Dialect

# Bin edges sit off round numbers: values with few decimals (prices) are multiples of the bin
# width, and would otherwise lie on an edge, where the least noise changes their bin.
_EDGE_OFFSET = "0.3819660112501051"


def _decade_and_bin(dialect: Dialect, x: str, rel_tolerance: float) -> tuple[str, str]:
    width = repr(rel_tolerance / 2)
    decade = f"floor(log10(abs({x})))"
    number = dialect.to_bigint(f"floor({x} / ({width} * {dialect.power10(decade)}) + {_EDGE_OFFSET})")
    return decade, number


def bin_text_sql(dialect: Dialect, quoted: str, rel_tolerance: float) -> str:
    """The bin of column ``quoted`` as text: 'z' for zero, 'nan', the infinity, or 'decade:bin'."""
    x = dialect.double(quoted)
    decade, number = _decade_and_bin(dialect, x, rel_tolerance)
    special = ""
    if dialect.has_nan_and_infinity:
        special = (
            f" WHEN {dialect.is_nan(x)} THEN 'nan' WHEN {dialect.is_infinite(x)} THEN {dialect.text_cast(x)}"
        )
    text = dialect.concat(
        dialect.number_operand(dialect.to_bigint(decade)), "':'", dialect.number_operand(number)
    )
    return f"CASE WHEN {x} IS NULL THEN NULL WHEN {x} = 0 THEN 'z'{special} ELSE {text} END"


def typed_bin_sql(dialect: Dialect, quoted: str, rel_tolerance: float) -> tuple[str, str, str]:
    """The same bin as numbers (kind, decade, bin), for an engine's own hash of typed values (the
    engines with one have NaN and infinities): no text is built."""
    x = dialect.double(quoted)
    nan, infinite = dialect.is_nan(x), dialect.is_infinite(x)
    special = f"{x} IS NULL OR {x} = 0 OR {nan} OR {infinite}"
    kind = (
        f"CASE WHEN {x} IS NULL THEN 0 WHEN {x} = 0 THEN 1 WHEN {nan} THEN 2"
        f" WHEN {x} > 0 AND {infinite} THEN 3 WHEN {infinite} THEN 4 ELSE 5 END"
    )
    decade, number = _decade_and_bin(dialect, x, rel_tolerance)
    return (
        kind,
        f"CASE WHEN {special} THEN NULL ELSE {dialect.to_int(decade)} END",
        f"CASE WHEN {special} THEN NULL ELSE {number} END",
    )
