"""The contract of ``xor64-sql-rowhash-1``: whole-table digests computed inside the database.

What it guarantees: each row's hash is the bucket pass's row hash
(:func:`pm_pipeline.core.reconcile.bucket.row_hash_sql`: a 60-bit hash of the key and every
column's canonical text, or of the typed values when both sides are the same engine with the same
types; a column compared with a relative tolerance contributes its tolerance bin). A table's digest
is its row count and the XOR of its row hashes, written as the 16 hex digits of the XOR's 64-bit
pattern (engines differ in the signedness of a XOR aggregate, the bit pattern does not). It is used
only where keys are unique, so no two equal rows cancel out. A :func:`recipe` records what rebuilds
the row hash (dialect, native or canonical-text hash, key count, tolerance bins), so one side's
digest can be recomputed later without the other side.

How it differs from its siblings: :mod:`.rows` (``sha256-rowsum-mod2^256``) hashes canonical values
in this process, 256 bits wide, sums them (duplicates count) and compares across any two engines.
This digest never brings a row into the process (the bucket strategy gets it free as the XOR of its
buckets' XORs, other strategies from one aggregate scan per side), but it is only 64 bits wide, it
is a XOR, and two sides' digests compare only when neither carries a tolerance bin
(:func:`comparable`). :mod:`.files` digests bytes on disk.

Computing it needs the reconciliation's readers and plans, so the computation lives with them in
:mod:`pm_pipeline.core.reconcile.tablesum`; the row hash's SQL is written by
:mod:`pm_pipeline.core.canonical.sqltext` and :mod:`pm_pipeline.core.reconcile.sqlhash`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ALGORITHM = "xor64-sql-rowhash-1"
MASK64 = (1 << 64) - 1


def recipe(
    *, dialect: str | None, native_hash: bool, key_columns: int, binned: Mapping[str, float]
) -> dict[str, Any]:
    """What rebuilds a side's row hash: the dialect that hashed it, whether it hashed typed values
    (native) or canonical text, how many leading columns are the key, and each binned column's
    relative tolerance."""
    return {
        "dialect": dialect,
        "native_hash": native_hash,
        "key_columns": key_columns,
        "binned": dict(binned),
    }


def comparable(recipe: Mapping[str, Any]) -> bool:
    """Whether two sides' digests may be compared: a tolerance bin may rightly differ between two
    equal values (each side's digest still detects any later change of its own table)."""
    return not recipe.get("binned")


def checksum(xor: int) -> str:
    """The recorded checksum: the 16 hex digits of the XOR's 64-bit pattern, whatever its sign."""
    return f"{xor & MASK64:016x}"
