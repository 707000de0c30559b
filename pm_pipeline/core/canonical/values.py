# Over 300 lines: one canonical rule per type family, side by side, so that the families stay consistent with each other.
"""Turn a column's values, as one engine's driver delivered them, into the canonical form of a family.

Canonical Arrow types, one per family (both sides of a pair end in the same type):

    INTEGER -> int64            DECIMAL -> exact normalised text ('12.5', '-3', '0')
    FLOAT -> float64            TEXT, ENUM, OTHER, INTERVAL -> utf8
    SET -> JSON array text (``arrays``)  BOOLEAN -> 'true' / 'false' (anything else kept, marked '?')
    DATE -> 'YYYY-MM-DD'        TIMESTAMP, TIMESTAMPTZ -> int64 microseconds since the epoch, UTC
    (±infinity: DATE 'infinity' / '-infinity', instants ±(2^63 - 1); ``INFINITE_INSTANT``)
    TIME -> int64 microseconds  JSON -> utf8 of the parsed document, keys sorted
    BINARY -> binary            UUID -> lower-case hyphenated utf8

``strict=True`` applies only type conversions; ``strict=False`` also the spec's declared options.
Comparing both tells exact-equal from equal-under-rule.
"""

from __future__ import annotations

import decimal
import json
import uuid
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pm_pipeline.core.canonical.arrays import canonical_lists
from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.connectors.schema import TypeFamily
from pm_pipeline.core.errors import BadInputError

F = TypeFamily
Side = Literal["source", "target"]

# A zero date kept as itself (the strict form, or under zero_date: strict): never equal to any real
# instant, shown as written.
ZERO_INSTANT = -(2**63)
# MariaDB/MySQL datetimes with a zero month or day ('2024-00-00 10:00:00', legal under a permissive
# sql_mode) name no instant. Each is kept as its own value between -infinity (ZERO_INSTANT + 1) and
# every real instant: equal only to the same legacy value, so a target that lost or invented it
# shows as a difference instead of stopping the run.
PARTLY_ZERO_BASE = ZERO_INSTANT + 2
_PARTLY_ZERO = r"^\d{4}-(00-\d\d|\d\d-00)[ T]\d\d:\d\d:\d\d"
_ZERO_DATE_PREFIX = "0000-00-00"
# PostgreSQL's and DuckDB's ±infinity, as both connectors hand them over: ±(2^31 - 1) days, and
# ±(2^63 - 1) in a timestamp's own unit. Canonical instants keep the latter in microseconds
# (no finite instant is that far; the zero date is -2^63), canonical dates read as the words.
INFINITE_INSTANT = 2**63 - 1
_INFINITE_DAYS = 2**31 - 1
_INFINITY_WORDS = ("infinity", "+infinity")
_PRECISION_US = {"s": 1_000_000, "ms": 1_000, "us": 1}


def canonical_type(family: TypeFamily) -> pa.DataType:
    if family in (F.INTEGER, F.TIMESTAMP, F.TIMESTAMPTZ, F.TIME):
        return pa.int64()
    if family is F.FLOAT:
        return pa.float64()
    if family is F.BINARY:
        return pa.binary()
    return pa.string()


def canonicalize(
    array: pa.Array | pa.ChunkedArray,
    *,
    plan: ColumnPlan,
    side: Side,
    strict: bool,
    for_hash: bool = False,
    for_cells: bool = False,
) -> pa.Array:
    """The canonical form of ``array`` (one column of one side) under ``plan``.

    ``for_hash``: the form a row hash takes instead, equal exactly where the canonical form is,
    cheaper where the pair allows it (decimals of a common scale, ``decimal_hash_text``).
    ``for_cells`` (with ``strict=False``): the form two cells are compared in, which also reads
    zero dates as NULL (``ColumnPlan.maps_zero_dates``); every other form keeps them apart.

    Raises BadInputError naming the column when a value cannot be read as the pair's family
    (text in an integer column of a loosely typed legacy table, an unparseable timestamp).
    """
    try:
        if for_hash and not strict and plan.common_scale is not None:
            return decimal_hash_text(array, plan.common_scale)
        return _canonicalize(array, plan=plan, side=side, strict=strict, for_cells=for_cells)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, decimal.InvalidOperation) as exc:
        column = plan.source if side == "source" else plan.target
        raise BadInputError(
            f"{side} column {column.name} ({column.data_type}) holds a value that cannot be read as "
            f"{plan.family}: {str(exc).splitlines()[0]}"
        ) from exc


def _canonicalize(
    array: pa.Array | pa.ChunkedArray, *, plan: ColumnPlan, side: Side, strict: bool, for_cells: bool = False
) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_null(array.type):  # a column of NULLs only, as a file reader may type it
        return pa.nulls(len(array), canonical_type(plan.family))
    rule = plan.rule
    if side == "source" and rule.value_map and not strict:
        array = _apply_value_map(array, rule.value_map)
    family = plan.family
    column = plan.source if side == "source" else plan.target
    zone = plan.source_zone if side == "source" else plan.target_zone
    if column.family is F.TIMESTAMPTZ:
        # An instant column (MySQL TIMESTAMP) may arrive as naive text: connectors read in a UTC
        # session, so the endpoint's zone (meant for naive DATETIME columns) must not apply to it.
        zone = "UTC"
    zone = (rule.source_timezone if side == "source" else rule.target_timezone) or zone
    if family is F.INTEGER:
        out = _to_int(array)
    elif family is F.DECIMAL:
        out = _to_decimal_text(array)
    elif family is F.FLOAT:
        out = _to_float(array)
    elif family is F.BOOLEAN:
        out = _to_bool_text(array)
    elif family is F.DATE:
        out = _to_date_text(array, map_zero=not strict and for_cells and plan.maps_zero_dates)
    elif family in (F.TIMESTAMP, F.TIMESTAMPTZ):
        map_zero = not strict and for_cells and plan.maps_zero_dates
        if column.family in (F.TIMESTAMP, F.TIMESTAMPTZ) and pa.types.is_uint64(array.type):
            out = _packed_instant(array, zone=zone, map_zero=map_zero)
        else:
            out = _to_instant(array, zone=zone, map_zero=map_zero)
        if not strict and rule.timestamp_precision:
            step = _PRECISION_US[rule.timestamp_precision]
            if step > 1:  # infinities and the zero date are no instants to truncate
                kept = pc.is_in(out, value_set=pa.array([INFINITE_INSTANT, -INFINITE_INSTANT, ZERO_INSTANT]))
                out = pc.if_else(kept, out, pc.multiply(pc.divide(out, step), step))
    elif family is F.TIME:
        out = _to_time(array)
    elif family is F.JSON:
        out = _python_map(array, _json_text)
    elif family is F.BINARY:
        out = array.cast(pa.binary()) if not pa.types.is_binary(array.type) else array
    elif family is F.UUID:
        out = _to_uuid(array)
    elif family is F.SET:
        out = canonical_lists(array, plan=plan, side=side, strict=strict, canonicalize=_canonicalize)
    else:
        out = _to_text(array, column_type=column.data_type)
    if family in (F.TEXT, F.ENUM, F.OTHER, F.INTERVAL) and not strict:
        out = _text_rules(out, plan)
    return out


def _apply_value_map(array: pa.Array, mapping: dict[str, Any]) -> pa.Array:
    text = _to_text(array, column_type="")
    keys = pa.array(list(mapping), pa.string())
    values = pa.array([None if v is None else _render_mapped(v) for v in mapping.values()], pa.string())
    index = pc.index_in(text, value_set=keys)
    mapped = pc.take(values, index)
    return pc.if_else(pc.is_valid(index), mapped, text)


def _render_mapped(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _text_rules(out: pa.Array, plan: ColumnPlan) -> pa.Array:
    rule = plan.rule
    if rule.trim:
        out = pc.utf8_trim_whitespace(out)
    if rule.unicode_nfc:
        out = pc.utf8_normalize(out, form="NFC")
    if rule.case_insensitive:
        out = pc.utf8_lower(out)
    if rule.null_equals_empty:
        out = pc.if_else(pc.equal(out, ""), pa.scalar(None, pa.string()), out)
    return out


def _to_text(array: pa.Array, *, column_type: str) -> pa.Array:
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        out = array.cast(pa.string())
    elif pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
        out = _python_map(array, lambda v: v.decode("utf-8", errors="replace"))
    elif pa.types.is_boolean(array.type):
        out = pc.if_else(array, "true", "false")
    elif pa.types.is_floating(array.type) or pa.types.is_decimal(array.type):
        out = _to_decimal_text(array)
    elif pa.types.is_dictionary(array.type):
        out = array.cast(pa.string())
    else:
        out = array.cast(pa.string())
    # CHAR(n) pads with spaces in some engines and not in others: the padding carries no data.
    if column_type.lower().startswith(("char(", "character(", "bpchar", "nchar(")):
        out = pc.utf8_rtrim(out, characters=" ")
    return out


def _to_int(array: pa.Array) -> pa.Array:
    if pa.types.is_integer(array.type):
        return array.cast(pa.int64())
    if pa.types.is_boolean(array.type):
        return array.cast(pa.int64())
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return pc.utf8_trim_whitespace(array).cast(pa.int64())
    return array.cast(pa.int64())


def _to_float(array: pa.Array) -> pa.Array:
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return pc.utf8_trim_whitespace(array).cast(pa.float64())
    return array.cast(pa.float64())


def _to_decimal_text(array: pa.Array) -> pa.Array:
    """Exact value as normalised text: no exponent, no trailing fractional zeros, no '+', no '-0'."""
    if pa.types.is_floating(array.type):
        # A binary float's shortest round-trip repr is the value the engine meant to store.
        return _python_map(array, lambda v: _normalise_decimal(repr(float(v))))
    if pa.types.is_decimal(array.type):
        # Plain digits with ``scale`` fractional digits, or an exponent for tiny values and zero.
        text = array.cast(pa.string())
        odd = pc.match_substring(text, "E")
    else:
        text = array.cast(pa.string()) if not pa.types.is_string(array.type) else array
        odd = _odd_decimal_text(text)
        if odd is None:
            text = pc.utf8_trim_whitespace(text)
            odd = pc.match_substring_regex(text, _ODD_DECIMAL)
    # The other shapes (digits, an optional '-', at most one point between digits) only need
    # their fractional zeros and a bare point trimmed; the odd ones go through Decimal.
    with_point = pc.match_substring(text, ".")
    out = pc.ascii_rtrim(pc.ascii_rtrim(text, characters="0"), characters=".")
    if not pc.all(with_point).as_py():
        out = pc.if_else(with_point, out, text)
    negative_zero = pc.equal(out, "-0")
    if pc.any(negative_zero).as_py():
        out = pc.if_else(negative_zero, "0", out)
    if pc.any(odd).as_py():
        mask = pc.fill_null(odd, False)
        fixed = _python_map(pc.filter(text, mask), _normalise_decimal, pa.string())
        out = pc.replace_with_mask(out, mask, fixed)
    return out


_ODD_DECIMAL = r"[eE]|^\+|^-?\.|\.$|^-?0\d"  # shapes that need Decimal to normalise
_UNUSUAL_BYTES = np.frombuffer(b"eE+ \t\n\r\x0b\x0c", dtype=np.uint8)


def _odd_decimal_text(text: pa.Array) -> pa.Array | None:
    """Which values of untrimmed decimal text need Decimal, or None when a value may need trimming.

    Database renderings are plain: one scan of the text bytes for exponents, '+' and blanks
    settles most batches, and the shapes left (a bare leading or trailing point, leading zeros)
    are told by their ends, without a regular expression.
    """
    if not _plain_decimal_bytes(text) and np.isin(value_bytes(text)[1], _UNUSUAL_BYTES).any():
        return None
    length = pc.binary_length(text)
    zeros = pc.or_(
        pc.and_(
            pc.starts_with(text, "0"), pc.and_(pc.greater(length, 1), pc.invert(pc.starts_with(text, "0.")))
        ),
        pc.and_(
            pc.starts_with(text, "-0"), pc.and_(pc.greater(length, 2), pc.invert(pc.starts_with(text, "-0.")))
        ),
    )
    points = pc.or_(pc.or_(pc.starts_with(text, "."), pc.starts_with(text, "-.")), pc.ends_with(text, "."))
    maybe = pc.fill_null(pc.or_(zeros, points), False)
    if not pc.any(maybe).as_py():
        return maybe
    # The few candidates get the exact test (a leading zero must be followed by a digit).
    confirmed = pc.match_substring_regex(pc.filter(text, maybe), _ODD_DECIMAL)
    return pc.replace_with_mask(maybe, maybe, pc.fill_null(confirmed, False))


def value_bytes(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data) of a string or binary array (large or not), sliced to its own values:
    value ``i`` is ``data[offsets[i] - offsets[0] : offsets[i + 1] - offsets[0]]``."""
    large = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    offsets_buffer, data_buffer = array.buffers()[1:3]
    assert offsets_buffer is not None
    offsets = np.frombuffer(offsets_buffer, np.int64 if large else np.int32)
    offsets = offsets[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.empty(0, np.uint8)
    return offsets, data[offsets[0] : offsets[-1]]


def _plain_decimal_bytes(text: pa.Array) -> bool:
    """Whether every character of ``text`` (a string array) is a digit, '-' or '.'."""
    if not pa.types.is_string(text.type):
        return False
    chars = value_bytes(text)[1]
    return not len(chars) or bool(
        chars.min() >= ord("-") and chars.max() <= ord("9") and not (chars == ord("/")).any()
    )


def decimal_hash_text(array: pa.Array, scale: int) -> pa.Array:
    """Decimals of a column both sides declare with ``scale`` fractional digits, as text to hash.

    Each value is written with exactly ``scale`` fractional digits, as databases render such a
    column (PostgreSQL ``numeric::text``, MySQL ``CAST(... AS CHAR)``), so their renderings hash
    as they are, without the trimming of the canonical form (``_to_decimal_text``). A value
    written otherwise (other digits, NaN, a negative zero, leading zeros) is rewritten, so equal
    values give equal text whatever the engine; one that ``scale`` digits cannot hold keeps its
    canonical text, which has more fractional digits than any rewritten value. Different values
    never give the same text.
    """
    if scale < 1:  # no fractional digits: the canonical text is already this form
        return _to_decimal_text(array)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_string(array.type) and _plain_fixed_scale(array, scale):
        return array
    fixed = [None if v is None else _fixed_decimal(v, scale) for v in _to_decimal_text(array).to_pylist()]
    return pa.array(fixed, pa.string())


def _plain_fixed_scale(text: pa.Array, scale: int) -> bool:
    """Whether every value is plain decimal text with ``scale`` fractional digits: an optional
    '-', digits without leading zeros, a point, ``scale`` digits; and no negative zero."""
    if not _plain_decimal_bytes(text):
        return False
    offsets, chars = value_bytes(text)
    starts, lengths = offsets[:-1] - offsets[0], np.diff(offsets)
    valid = pc.is_valid(text).to_numpy(zero_copy_only=False)
    if not len(chars):
        return not valid.any()
    minus = (lengths > 0) & (chars[np.minimum(starts, len(chars) - 1)] == ord("-"))
    digits = lengths - minus  # characters after the sign
    if (valid & (digits < scale + 2)).any() or (~valid & (lengths > 0)).any():
        return False  # too short for 'd.dd', or characters behind a null
    # One point per value, exactly ``scale`` characters before its end; '-' only in front.
    if not (chars[offsets[1:][valid] - offsets[0] - scale - 1] == ord(".")).all():
        return False
    if (chars == ord(".")).sum() != valid.sum() or (chars == ord("-")).sum() != minus.sum():
        return False
    # No leading zero before another digit ('0.50' is plain, '00.50' is not).
    first = chars[np.minimum(starts + minus, len(chars) - 1)]
    if (valid & (first == ord("0")) & (digits > scale + 2)).any():
        return False
    negative_zero = "-0." + "0" * scale
    return not (minus.any() and pc.any(pc.equal(text, negative_zero)).as_py())


def _fixed_decimal(canonical: str, scale: int) -> str:
    """Canonical decimal text (``_normalise_decimal``) with exactly ``scale`` fractional digits,
    unless the value does not fit them (or is no number): then as it is."""
    point = canonical.find(".")
    fraction = 0 if point < 0 else len(canonical) - point - 1
    if fraction > scale or not canonical.lstrip("-").replace(".", "", 1).isdigit():
        return canonical
    return (canonical if point >= 0 else canonical + ".") + "0" * (scale - fraction)


def _normalise_decimal(text: str) -> str:
    try:
        value = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        return "?" + text
    if not value.is_finite():
        return str(value)
    if value == 0:
        return "0"
    # normalize() rounds to the context's precision (28 digits): give it every digit the value has.
    sign, digits, exponent = value.normalize(decimal.Context(prec=len(value.as_tuple().digits))).as_tuple()
    assert isinstance(exponent, int)
    number = "".join(map(str, digits))
    if exponent >= 0:
        number += "0" * exponent
    else:
        number = number.rjust(-exponent + 1, "0")
        number = number[:exponent] + "." + number[exponent:]
    return ("-" if sign else "") + number


_BOOL_TEXT = pa.array(["false", "true"])
_TRUE = {"1", "t", "true", "y", "yes", "on"}
_FALSE = {"0", "f", "false", "n", "no", "off"}


def _to_bool_text(array: pa.Array) -> pa.Array:
    if pa.types.is_boolean(array.type):
        return pc.if_else(array, "true", "false")
    if pa.types.is_integer(array.type):  # MySQL BOOLEAN is TINYINT(1)
        low, high = (bound.as_py() for bound in pc.min_max(array).values())
        if low is None or (low >= 0 and high <= 1):
            return pc.take(_BOOL_TEXT, array)
        text = array.cast(pa.string())
        other = pc.binary_join_element_wise("?", text, "")
        is_true, is_false = pc.equal(array, 1), pc.equal(array, 0)
        return pc.if_else(is_true, "true", pc.if_else(is_false, "false", other))
    text = pc.utf8_lower(pc.utf8_trim_whitespace(_to_text(array, column_type="")))
    is_true = pc.is_in(text, value_set=pa.array(sorted(_TRUE)))
    is_false = pc.is_in(text, value_set=pa.array(sorted(_FALSE)))
    other = pc.binary_join_element_wise("?", text, "")
    return pc.if_else(is_true, "true", pc.if_else(is_false, "false", other))


def _infinities(array: pa.Array) -> tuple[pa.Array, pa.Array] | None:
    """Where ``array`` (dates, timestamps or their text) holds +infinity and -infinity, or None
    when it holds neither."""
    if pa.types.is_date32(array.type) or pa.types.is_timestamp(array.type):
        top = _INFINITE_DAYS if pa.types.is_date32(array.type) else INFINITE_INSTANT
        storage = array.view(pa.int32() if pa.types.is_date32(array.type) else pa.int64())
        low, high = (bound.as_py() for bound in pc.min_max(storage).values())
        if low is None or (low > -top and high < top):
            return None
        plus, minus = pc.equal(storage, top), pc.equal(storage, -top)
    elif pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        if not pc.any(pc.match_substring(array, "infinity", ignore_case=True)).as_py():
            return None
        words = pc.utf8_lower(pc.utf8_trim_whitespace(array))
        plus, minus = pc.is_in(words, value_set=pa.array(_INFINITY_WORDS)), pc.equal(words, "-infinity")
    else:
        return None
    return pc.fill_null(plus, False), pc.fill_null(minus, False)


def _finite_part(array: pa.Array, infinities: tuple[pa.Array, pa.Array] | None) -> pa.Array:
    """``array`` with its infinities as NULL: no conversion has to read them."""
    if infinities is None:
        return array
    return pc.if_else(pc.or_(*infinities), pa.scalar(None, array.type), array)


def _with_infinities(
    out: pa.Array, infinities: tuple[pa.Array, pa.Array] | None, plus: Any, minus: Any
) -> pa.Array:
    if infinities is None:
        return out
    return pc.if_else(infinities[0], plus, pc.if_else(infinities[1], minus, out))


def _to_date_text(array: pa.Array, *, map_zero: bool) -> pa.Array:
    infinities = _infinities(array)
    array = _finite_part(array, infinities)
    return _with_infinities(_finite_date_text(array, map_zero=map_zero), infinities, "infinity", "-infinity")


def _finite_date_text(array: pa.Array, *, map_zero: bool) -> pa.Array:
    if pa.types.is_date(array.type):
        return pc.strftime(array.cast(pa.timestamp("s")), format="%Y-%m-%d")
    if pa.types.is_timestamp(array.type):
        return pc.strftime(array, format="%Y-%m-%d")
    text = pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(array.cast(pa.string())), 0, 10)
    if map_zero:
        text = pc.if_else(pc.starts_with(text, _ZERO_DATE_PREFIX), pa.scalar(None, pa.string()), text)
    return text


def _to_instant(array: pa.Array, *, zone: str, map_zero: bool) -> pa.Array:
    """Microseconds since the epoch in UTC. Naive values are read in ``zone``; ±infinity (a
    date's too) are ±``INFINITE_INSTANT`` in any zone."""
    infinities = _infinities(array)
    array = _finite_part(array, infinities)
    out = _finite_instant(array, zone=zone, map_zero=map_zero)
    return _with_infinities(out, infinities, INFINITE_INSTANT, -INFINITE_INSTANT)


def _finite_instant(array: pa.Array, *, zone: str, map_zero: bool) -> pa.Array:
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        text = array.cast(pa.string())
        if not pc.any(pc.starts_with(text, _ZERO_DATE_PREFIX)).as_py():
            # Database renderings: no blanks, no offsets, no zero dates. Anything else fails here.
            try:
                return _instant_micros(text.cast(pa.timestamp("us")), zone)
            except pa.ArrowInvalid:
                pass
        text = trimmed = pc.utf8_trim_whitespace(text)
        zero = pc.starts_with(text, _ZERO_DATE_PREFIX)
        partly = pc.and_(pc.match_substring_regex(text, _PARTLY_ZERO), pc.invert(zero))
        text = pc.if_else(pc.or_(zero, partly), pa.scalar(None, pa.string()), text)
        # An offset follows a time of day: the '-15' ending a plain date ('2024-01-15') is no zone.
        has_zone = pc.match_substring_regex(text, r"\d:\d\d(\.\d*)?\s*(Z|[+-]\d\d(:?\d\d)?)$")
        if pc.any(has_zone).as_py():
            if not pc.all(pc.or_kleene(has_zone, pc.is_null(has_zone))).as_py():
                raise ValueError("a column mixes timestamps with and without a time-zone offset")
            parsed = text.cast(pa.timestamp("us", tz="UTC"))
        else:
            parsed = text.cast(pa.timestamp("us"))
        micros = _instant_micros(parsed, zone)
        if pc.any(zero).as_py():
            fill = pa.scalar(None, pa.int64()) if map_zero else pa.scalar(ZERO_INSTANT, pa.int64())
            micros = pc.if_else(zero, fill, micros)
        if pc.any(partly).as_py():
            digits = pc.replace_substring_regex(pc.utf8_slice_codeunits(trimmed, 0, 19), r"\D", "")
            legacy = pc.add(pc.cast(digits, pa.int64(), safe=False), PARTLY_ZERO_BASE)
            micros = pc.if_else(pc.fill_null(partly, False), legacy, micros)
        return micros
    if pa.types.is_date(array.type):
        array = array.cast(pa.timestamp("us"))
    return _instant_micros(array, zone)


def _calendar() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lookup tables for years 0-9999 and months 0-15 (0 and 13-15 hold no day)."""
    years = np.arange(10_000, dtype=np.int64)
    leap = ((years % 4 == 0) & (years % 100 != 0)) | (years % 400 == 0)
    # Days from 1970-01-01 to 1 January of each year (proleptic Gregorian; year 0 is 1 BC).
    before = years - 1
    year_start = 365 * years + before // 4 - before // 100 + before // 400 + 1 - 719_528
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0, 0, 0], np.int32)
    month_start = np.concatenate([[0], np.cumsum(month_days[:-1])]).astype(np.int32)
    return year_start.astype(np.int32), leap, month_days, month_start


_YEAR_START, _LEAP_YEAR, _MONTH_DAYS, _MONTH_START = _calendar()


def _packed_instant(array: pa.Array, *, zone: str, map_zero: bool) -> pa.Array:
    """Microseconds since the epoch from MySQL's numeric datetime, YYYYMMDDhhmmss as an unsigned
    integer (``Connector.compact_expression``); 0 (or a zero date with a time) is the zero date."""
    valid = pc.is_valid(array).to_numpy(zero_copy_only=False)
    packed = pc.fill_null(array, 0).to_numpy(zero_copy_only=False)
    too_large = np.zeros(len(packed), bool)
    if len(packed) and packed.max() >= 100_000_000_000_000:  # more than 14 digits
        too_large = packed >= 100_000_000_000_000
        packed = np.where(too_large, 0, packed)
    # The date and the time of day fit 32 bits each; the calendar is looked up, not computed.
    date, clock = np.divmod(packed.astype(np.int64), 1_000_000)
    year, month_day = np.divmod(date.astype(np.int32), 10_000)
    month, day = np.divmod(month_day, 100)
    month = np.minimum(month, 15)
    hour, minute_second = np.divmod(clock.astype(np.int32), 10_000)
    minute, second = np.divmod(minute_second, 100)
    zero = valid & (date == 0) & ~too_large
    leap = _LEAP_YEAR[year]
    good = (day >= 1) & (day <= _MONTH_DAYS[month] + (leap & (month == 2)))
    good &= (hour < 24) & (minute < 60) & (second < 60) & ~too_large
    bad = valid & ~zero & ~good
    partly = bad & ((month == 0) | (day == 0))
    bad &= ~partly
    if bad.any():
        raise ValueError(f"no such date and time: {int(array[int(np.argmax(bad))].as_py())}")
    if partly.any():  # looked up as the first of January, then replaced
        month = np.where(partly, 1, month)
        day = np.where(partly, 1, day)
    days = _YEAR_START[year] + _MONTH_START[month] + (leap & (month > 2)) + (day - 1)
    micros = (days.astype(np.int64) * 86_400 + (hour * 3_600 + minute * 60 + second)) * 1_000_000
    wall = pa.array(micros, pa.timestamp("us"), mask=~valid | zero)
    out = _instant_micros(wall, zone)
    if zero.any():
        fill = pa.scalar(None, pa.int64()) if map_zero else pa.scalar(ZERO_INSTANT, pa.int64())
        out = pc.if_else(pa.array(zero), fill, out)
    if partly.any():
        legacy = pa.array(packed.astype(np.int64) + PARTLY_ZERO_BASE, pa.int64())
        out = pc.if_else(pa.array(partly), legacy, out)
    return out


def _instant_micros(array: pa.Array, zone: str) -> pa.Array:
    # A tz-aware timestamp's storage is already UTC; a naive one holds wall-clock time.
    unit_type = array.type
    assert isinstance(unit_type, pa.TimestampType)
    if unit_type.tz is None and zone not in ("UTC", "Etc/UTC"):
        array = pc.assume_timezone(array, timezone=zone, ambiguous="earliest", nonexistent="latest")
    tz = array.type.tz if isinstance(array.type, pa.TimestampType) else None
    return array.cast(pa.timestamp("us", tz=tz)).cast(pa.int64())


def _to_time(array: pa.Array) -> pa.Array:
    if pa.types.is_time(array.type):
        return array.cast(pa.time64("us")).cast(pa.int64())
    if pa.types.is_duration(array.type):
        return array.cast(pa.duration("us")).cast(pa.int64())
    text = pc.utf8_trim_whitespace(array.cast(pa.string()))
    return _python_map(text, _time_micros, pa.int64())


def _time_micros(text: str) -> int:
    hours, minutes, rest = text.split(":")
    seconds, _, fraction = rest.partition(".")
    micros = int((fraction + "000000")[:6]) if fraction else 0
    return ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * 1_000_000 + micros


def _to_uuid(array: pa.Array) -> pa.Array:
    if pa.types.is_fixed_size_binary(array.type) or pa.types.is_binary(array.type):
        return _python_map(array, lambda v: str(uuid.UUID(bytes=bytes(v))))
    if isinstance(array, pa.ExtensionArray):
        return _to_uuid(array.storage)
    return pc.utf8_lower(pc.utf8_trim_whitespace(array.cast(pa.string())))


def _json_text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return "?" + str(value)
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _python_map(array: pa.Array, function: Any, out_type: pa.DataType | None = None) -> pa.Array:
    """Per-value fallback for the few forms Arrow compute cannot express (JSON, sets, exponents)."""
    values = [None if value is None else function(value) for value in array.to_pylist()]
    return pa.array(values, out_type or pa.string())
