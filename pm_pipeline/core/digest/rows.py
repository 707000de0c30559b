"""``pm-row-json-1`` row text and ``sha256-rowsum-mod2^256`` row digests, one Arrow batch at a time.

What it guarantees: every row of canonical values (NULL, int64, float64, text, binary) gets one
text, byte for byte what Python's ``json.dumps(values, ensure_ascii=False, separators=(",", ":"))``
writes for it (floats by ``repr``, NaN and infinities as the strings ``"nan"``/``"inf"``/``"-inf"``,
binary as lower-case hex), and one SHA-256 digest of that text's UTF-8 bytes. A table's checksum is
the sum of its row digests read as big-endian integers, modulo 2**256: independent of row order,
and a duplicated row still counts (a sum, not a XOR). The bytes depend on the canonical values
only, never on the engine or driver they were read from, so any process that canonicalises the
same way recomputes the same checksum, anywhere, later.

How it differs from its siblings: :mod:`.tablesum` (``xor64-sql-rowhash-1``) is computed by the
databases themselves, 64 bits wide, and only comparable between two sides hashed the same way;
this one is computed in this process from Arrow batches, 256 bits wide, and comparable across any
two engines. :mod:`.files` digests bytes on disk, not values. The checksum manifest built on it
(which columns, families and zone) is :mod:`pm_pipeline.core.integrity.checksum`; a rollback
snapshot digests every row with it too (:mod:`pm_pipeline.core.rollback.checksum`).

Here the JSON text is assembled by Arrow compute in one join per batch: integers in decimal, text
between quotes with ``\\`` and ``"`` escaped, binary as quoted lower-case hex, NULL as ``null``. The
few values whose encoding Arrow cannot reproduce exactly (floats, whose shortest ``repr`` Arrow
formats differently, and text holding a control character, or any non-ASCII character in a key)
are encoded by ``json`` itself, one value at a time. Digests are summed as eight 32-bit limbs with
numpy: hashing each row with ``hashlib`` is the only step that runs once per row in Python, and a
table's sum (:func:`row_digest_sum`) leaves even that to DataFusion's ``sha256``, outside the
interpreter lock.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pm_pipeline.core.canonical.values import value_bytes

if TYPE_CHECKING:
    from datafusion import SessionContext

ALGORITHM = "sha256-rowsum-mod2^256"
CANONICALIZATION = "pm-row-json-1"

_MOD = 2**256
# The two hex digits of each byte value, read as one 16-bit item so that one gather writes both.
_HEX_PAIRS = np.frombuffer("".join(f"{i:02x}" for i in range(256)).encode(), "<u2")
# Bytes json writes escaped: control characters (\n, \u0001...), and in a key all but printable ASCII.
_ESCAPED_BY_JSON = {False: r"[\x00-\x1f]", True: r"[^ -~]"}

Piece: TypeAlias = "str | pa.Array"  # a constant piece of every row's text, or one piece per row


def _json_ready(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _json_one_by_one(values: list[Any], *, key: bool) -> list[str]:
    """Values encoded by ``json``: a row writes NaN/inf as text, a key as JSON's NaN/Infinity."""
    if key:
        return [json.dumps(v.hex() if isinstance(v, bytes) else v) for v in values]
    return [json.dumps(_json_ready(v), ensure_ascii=False) for v in values]


def _hex_text(array: pa.Array) -> pa.Array:
    """Lower-case hex of every value (a NULL slot gives whatever its bytes are: callers mask it)."""
    offsets, data = value_bytes(array.cast(pa.large_binary()))
    digits = _HEX_PAIRS[data]
    hex_offsets = np.ascontiguousarray((offsets - offsets[0]) * 2)
    return pa.LargeStringArray.from_buffers(len(array), pa.py_buffer(hex_offsets), pa.py_buffer(digits))


def _escaped_text(array: pa.Array, *, key: bool) -> pa.Array:
    """Text as it stands between a JSON string's quotes."""
    text = array.cast(pa.large_string())
    data = value_bytes(text)[1]
    escaped = (data < 0x20) | (data == 0x22) | (data == 0x5C)
    if key:
        escaped |= data > 0x7E
    if not escaped.any():
        return text  # nothing to escape, the common case: one scan of the bytes
    if np.any(data == 0x5C):
        text = pc.replace_substring(text, "\\", "\\\\")
    if np.any(data == 0x22):
        text = pc.replace_substring(text, '"', '\\"')
    by_json = pc.fill_null(pc.match_substring_regex(array, _ESCAPED_BY_JSON[key]), False)
    if pc.any(by_json).as_py():
        values = pc.filter(array, by_json).to_pylist()
        inner = [encoded[1:-1] for encoded in _json_one_by_one(values, key=key)]
        text = pc.replace_with_mask(text, by_json, pa.array(inner, pa.large_string()))
    return text


def _quotes(array: pa.Array) -> Piece:
    """A quote mark on each row that has a value, nothing on a NULL row."""
    if array.null_count == 0:
        return '"'
    valid = pc.is_valid(array).to_numpy(zero_copy_only=False)
    offsets = np.concatenate([np.zeros(1, np.int64), np.cumsum(valid, dtype=np.int64)])
    marks: pa.Array = pa.LargeStringArray.from_buffers(
        len(array), pa.py_buffer(offsets), pa.py_buffer(b'"' * int(offsets[-1]))
    )
    return marks


def _null_as_text(array: pa.Array, text: pa.Array) -> pa.Array:
    return pc.if_else(pc.is_valid(array), text, pa.scalar("null", pa.large_string()))


def _value_pieces(array: pa.Array, *, key: bool) -> list[Piece]:
    kind = array.type
    if pa.types.is_integer(kind):
        return [pc.fill_null(array.cast(pa.large_string()), "null")]
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        body = _escaped_text(array, key=key)
    elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        body = _hex_text(array)
    else:
        return [pa.array(_json_one_by_one(array.to_pylist(), key=key), pa.large_string())]
    quote = _quotes(array)
    return [quote, _null_as_text(array, body) if array.null_count else body, quote]


def json_arrays(columns: Sequence[pa.Array], *, num_rows: int, key: bool = False) -> pa.Array:
    """Each row's values as one compact JSON array (``large_string``).

    ``key=False`` writes the row text of ``pm-row-json-1``; ``key=True`` what ``json.dumps`` writes
    with its defaults (ASCII only, NaN/Infinity bare, binary as hex): a rollback snapshot's key.
    """
    pieces: list[Piece] = ["["]
    for index, column in enumerate(columns):
        pieces += ([","] if index else []) + _value_pieces(column, key=key)
    pieces.append("]")
    merged: list[Piece] = []
    for piece in pieces:  # one constant between two columns' values keeps the join short
        last = merged[-1] if merged else None
        if isinstance(piece, str) and isinstance(last, str):
            merged[-1] = last + piece
        else:
            merged.append(piece)
    if len(merged) == 1:
        return pa.array([merged[0]] * num_rows, pa.large_string())
    arguments = [pa.scalar(p, pa.large_string()) if isinstance(p, str) else p for p in merged]
    return pc.binary_join_element_wise(*arguments, pa.scalar("", pa.large_string()))


def row_digests(columns: Sequence[pa.Array], *, num_rows: int) -> list[bytes]:
    """The 32-byte SHA-256 digest of each row's canonical text (UTF-8)."""
    texts = json_arrays(columns, num_rows=num_rows).cast(pa.large_binary())
    sha256 = hashlib.sha256
    return [sha256(text).digest() for text in texts.to_pylist()]


def row_digest_sum(columns: Sequence[pa.Array], *, num_rows: int) -> int:
    """``digest_sum(row_digests(columns))``, each row hashed by DataFusion (the same SHA-256 of the
    same UTF-8 bytes) and summed with numpy: no Python object per row."""
    if num_rows == 0:
        return 0
    digests = sha256_each(json_arrays(columns, num_rows=num_rows))
    if len(digests) != num_rows:  # a sum is blind to order, never to a row lost or added
        raise RuntimeError(f"{len(digests)} row digests for {num_rows} rows")
    data = value_bytes(digests.cast(pa.large_binary()))[1]
    return _limb_sum(data.view(">u4").reshape(-1, 8))


def sha256_each(texts: pa.Array) -> pa.Array:
    """The 32-byte SHA-256 digest of each text's UTF-8 bytes (``binary``), by DataFusion's
    ``sha256``: compiled, outside the interpreter lock, and several times cheaper per row than
    DuckDB's (docs/benchmarks.md)."""
    from datafusion import col, functions

    context = _hasher()
    name = f"row_texts_{next(_NAMES)}"  # one context for every thread: a name of its own per batch
    frame = context.from_arrow(pa.record_batch({"t": texts}), name=name)
    try:
        hashed = frame.select(functions.sha256(col("t"))).to_arrow_table()
    finally:
        context.deregister_table(name)  # registered by from_arrow: kept until dropped
    return hashed.column(0).combine_chunks()


_NAMES = itertools.count()
_CONTEXT: list[SessionContext] = []
_CONTEXT_LOCK = threading.Lock()


def _hasher() -> SessionContext:
    """The process's DataFusion context for row hashes, made at the first batch and shared by every
    thread (a context per thread, and the allocator's memory of each, cost up to 200 MB more at 10M
    rows). One partition: the reading threads of both sides already keep the cores busy, and the
    digests come back in the order of the rows."""
    with _CONTEXT_LOCK:
        if not _CONTEXT:
            from datafusion import SessionConfig, SessionContext

            _CONTEXT.append(SessionContext(SessionConfig().with_target_partitions(1)))
        return _CONTEXT[0]


def digest_sum(digests: Sequence[bytes]) -> int:
    """The sum of 32-byte digests read as big-endian integers, modulo 2**256."""
    if not digests:
        return 0
    return _limb_sum(np.frombuffer(b"".join(digests), ">u4").reshape(-1, 8))


def _limb_sum(limbs: np.ndarray) -> int:
    """Rows of eight big-endian 32-bit limbs (one 256-bit digest each), summed modulo 2**256."""
    # A 32-bit limb summed over fewer than 2**32 rows cannot overflow 64 bits.
    sums = limbs.sum(axis=0, dtype=np.uint64)
    total = 0
    for limb in sums.tolist():
        total = (total << 32) + limb
    return total % _MOD
