"""Turn a column's values, as one engine's driver delivered them, into the canonical form of a family.

Canonical Arrow types, one per family (both sides of a pair end in the same type):

    INTEGER -> int64            DECIMAL -> exact normalised text ('12.5', '-3', '0')
    FLOAT -> float64            TEXT, ENUM, OTHER, INTERVAL -> utf8
    SET -> utf8, members sorted BOOLEAN -> 'true' / 'false' (anything else kept, marked '?')
    DATE -> 'YYYY-MM-DD'        TIMESTAMP, TIMESTAMPTZ -> int64 microseconds since the epoch, UTC
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

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.connectors.schema import TypeFamily
from pm_pipeline.core.errors import BadInputError

F = TypeFamily
Side = Literal["source", "target"]

# A zero date the spec did not map: never equal to any real instant, shown as written.
ZERO_INSTANT = -(2**63)
_ZERO_DATE_PREFIX = "0000-00-00"
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
    array: pa.Array | pa.ChunkedArray, *, plan: ColumnPlan, side: Side, strict: bool
) -> pa.Array:
    """The canonical form of ``array`` (one column of one side) under ``plan``.

    Raises BadInputError naming the column when a value cannot be read as the pair's family
    (text in an integer column of a loosely typed legacy table, an unparseable timestamp).
    """
    try:
        return _canonicalize(array, plan=plan, side=side, strict=strict)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, decimal.InvalidOperation) as exc:
        column = plan.source if side == "source" else plan.target
        raise BadInputError(
            f"{side} column {column.name} ({column.data_type}) holds a value that cannot be read as "
            f"{plan.family}: {str(exc).splitlines()[0]}"
        ) from exc


def _canonicalize(
    array: pa.Array | pa.ChunkedArray, *, plan: ColumnPlan, side: Side, strict: bool
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
        out = _to_date_text(array, map_zero=not strict and rule.zero_date == "null")
    elif family in (F.TIMESTAMP, F.TIMESTAMPTZ):
        map_zero = not strict and rule.zero_date == "null"
        if column.family in (F.TIMESTAMP, F.TIMESTAMPTZ) and pa.types.is_uint64(array.type):
            out = _packed_instant(array, zone=zone, map_zero=map_zero)
        else:
            out = _to_instant(array, zone=zone, map_zero=map_zero)
        if not strict and rule.timestamp_precision:
            step = _PRECISION_US[rule.timestamp_precision]
            out = pc.multiply(pc.divide(out, step), step) if step > 1 else out
    elif family is F.TIME:
        out = _to_time(array)
    elif family is F.JSON:
        out = _python_map(array, _json_text)
    elif family is F.BINARY:
        out = array.cast(pa.binary()) if not pa.types.is_binary(array.type) else array
    elif family is F.UUID:
        out = _to_uuid(array)
    elif family is F.SET:
        out = _python_map(_to_text(array, column_type=column.data_type), _set_text)
    else:
        out = _to_text(array, column_type=column.data_type)
    if family in (F.TEXT, F.SET, F.ENUM, F.OTHER, F.INTERVAL) and not strict:
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
    data = text.buffers()[2]
    if data is not None and np.isin(np.frombuffer(data, dtype=np.uint8), _UNUSUAL_BYTES).any():
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


def _to_date_text(array: pa.Array, *, map_zero: bool) -> pa.Array:
    if pa.types.is_date(array.type):
        return pc.strftime(array.cast(pa.timestamp("s")), format="%Y-%m-%d")
    if pa.types.is_timestamp(array.type):
        return pc.strftime(array, format="%Y-%m-%d")
    text = pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(array.cast(pa.string())), 0, 10)
    if map_zero:
        text = pc.if_else(pc.starts_with(text, _ZERO_DATE_PREFIX), pa.scalar(None, pa.string()), text)
    return text


def _to_instant(array: pa.Array, *, zone: str, map_zero: bool) -> pa.Array:
    """Microseconds since the epoch in UTC. Naive values are read in ``zone``."""
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        text = array.cast(pa.string())
        if not pc.any(pc.starts_with(text, _ZERO_DATE_PREFIX)).as_py():
            # Database renderings: no blanks, no offsets, no zero dates. Anything else fails here.
            try:
                return _instant_micros(text.cast(pa.timestamp("us")), zone)
            except pa.ArrowInvalid:
                pass
        text = pc.utf8_trim_whitespace(text)
        zero = pc.starts_with(text, _ZERO_DATE_PREFIX)
        text = pc.if_else(zero, pa.scalar(None, pa.string()), text)
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
        return micros
    if pa.types.is_date(array.type):
        array = array.cast(pa.timestamp("us"))
    return _instant_micros(array, zone)


def _packed_instant(array: pa.Array, *, zone: str, map_zero: bool) -> pa.Array:
    """Microseconds since the epoch from MySQL's numeric datetime, YYYYMMDDhhmmss as an unsigned
    integer (``Connector.compact_expression``); 0 (or a zero date with a time) is the zero date."""
    valid = pc.is_valid(array).to_numpy(zero_copy_only=False)
    packed = pc.fill_null(array, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    second, packed = packed % 100, packed // 100
    minute, packed = packed % 100, packed // 100
    hour, packed = packed % 100, packed // 100
    day, packed = packed % 100, packed // 100
    month, year = packed % 100, packed // 100
    zero = valid & (year == 0) & (month == 0) & (day == 0)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 1, 12) - 1]
    month_days = month_days + (leap & (month == 2))
    good = (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days) & (hour < 24) & (minute < 60)
    bad = valid & ~zero & ~(good & (second < 60))
    if bad.any():
        raise ValueError(f"no such date and time: {int(array[int(np.argmax(bad))].as_py())}")
    # Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    shifted = year - (month <= 2)
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = era * 146_097 + day_of_era - 719_468
    micros = (((days * 24 + hour) * 60 + minute) * 60 + second) * 1_000_000
    wall = pa.array(micros, pa.timestamp("us"), mask=~valid | zero)
    out = _instant_micros(wall, zone)
    if zero.any():
        fill = pa.scalar(None, pa.int64()) if map_zero else pa.scalar(ZERO_INSTANT, pa.int64())
        out = pc.if_else(pa.array(zero), fill, out)
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


def _set_text(value: str) -> str:
    return ",".join(sorted(member for member in value.split(",") if member != ""))


def _python_map(array: pa.Array, function: Any, out_type: pa.DataType | None = None) -> pa.Array:
    """Per-value fallback for the few forms Arrow compute cannot express (JSON, sets, exponents)."""
    values = [None if value is None else function(value) for value in array.to_pylist()]
    return pa.array(values, out_type or pa.string())
