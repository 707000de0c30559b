"""Width checks named by the type-mapping table, and the judgement of one column's type change."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pm_pipeline.core.connectors.schema import Column
from pm_pipeline.core.connectors.schema import TypeFamily as F
from pm_pipeline.core.findings import Category, Severity
from pm_pipeline.core.schema.declared_widths import float_bits, fractional_digits, int_range, stored_int_range
from pm_pipeline.core.schema.profile import ColumnProfile
from pm_pipeline.core.schema.type_map import Check, Verdict, dialect_of, effective_family, find_rule


class Fit(StrEnum):
    FITS = "fits"  # the declarations guarantee it
    FITS_BY_DATA = "fits_by_data"  # the declaration is narrower but every profiled value fits
    UNKNOWN = "unknown"  # the declarations cannot tell and no profile settles it
    LOSS = "loss"


@dataclass(frozen=True)
class WidthResult:
    fit: Fit
    detail: str = ""


@dataclass(frozen=True)
class Side:
    column: Column
    family: F
    engine: str


def _longest(profile: ColumnProfile | None) -> int | None:
    return None if profile is None else profile.max_length


def _bounded(source: int | None, target: int | None, unit: str, profile_max: int | None) -> WidthResult:
    if target is None:
        return WidthResult(Fit.FITS)
    if source is None:
        if profile_max is None:
            return WidthResult(Fit.UNKNOWN, f"source is unbounded, target holds {target} {unit}")
        if profile_max > target:
            return WidthResult(Fit.LOSS, f"longest value has {profile_max} {unit}, target holds {target}")
        return WidthResult(Fit.FITS_BY_DATA, f"source is unbounded; longest value has {profile_max} {unit}")
    if source > target:
        return WidthResult(Fit.LOSS, f"{source} > {target} {unit}")
    return WidthResult(Fit.FITS)


def _int_range(s: Side, t: Side, _: ColumnProfile | None) -> WidthResult:
    src, tgt = int_range(s.column, s.engine), stored_int_range(t.column, t.engine)
    if src is None or tgt is None:
        return WidthResult(Fit.UNKNOWN, "integer width unknown")
    if src[0] < tgt[0] or src[1] > tgt[1]:
        return WidthResult(Fit.LOSS, f"range {src[0]}..{src[1]} does not fit {tgt[0]}..{tgt[1]}")
    return WidthResult(Fit.FITS)


def _decimal_digits(s: Side, t: Side, _: ColumnProfile | None) -> WidthResult:
    if t.column.precision is None:
        return WidthResult(Fit.FITS)
    if s.column.precision is None:
        return WidthResult(Fit.UNKNOWN, "source numeric is unbounded")
    s_scale, t_scale = s.column.scale or 0, t.column.scale or 0
    if s_scale > t_scale:
        return WidthResult(Fit.LOSS, f"scale {s_scale} > {t_scale}")
    if s.column.precision - s_scale > t.column.precision - t_scale:
        return WidthResult(
            Fit.LOSS, f"integer digits {s.column.precision - s_scale} > {t.column.precision - t_scale}"
        )
    return WidthResult(Fit.FITS)


def _float_bits(s: Side, t: Side, _: ColumnProfile | None) -> WidthResult:
    src, tgt = float_bits(s.column, s.engine), float_bits(t.column, t.engine)
    return WidthResult(Fit.LOSS, f"mantissa {src} > {tgt} bits") if src > tgt else WidthResult(Fit.FITS)


def _text_length(s: Side, t: Side, profile: ColumnProfile | None) -> WidthResult:
    return _bounded(s.column.length, t.column.length, "characters", _longest(profile))


def _binary_length(s: Side, t: Side, profile: ColumnProfile | None) -> WidthResult:
    return _bounded(s.column.length, t.column.length, "bytes", _longest(profile))


def _fractional(s: Side, t: Side, _: ColumnProfile | None) -> WidthResult:
    src, tgt = fractional_digits(s.column, s.engine), fractional_digits(t.column, t.engine)
    if tgt is None:
        return WidthResult(Fit.FITS)
    if src is None:
        return WidthResult(Fit.UNKNOWN, f"source precision unknown, target keeps {tgt} digits")
    if src > tgt:
        return WidthResult(Fit.LOSS, f"fractional seconds {src} > {tgt} digits")
    return WidthResult(Fit.FITS)


def _labels(s: Side, t: Side, _: ColumnProfile | None) -> WidthResult:
    if s.column.enum_values is None or t.column.enum_values is None:
        return WidthResult(Fit.UNKNOWN, "labels unknown")
    lost = [label for label in s.column.enum_values if label not in t.column.enum_values]
    if lost:
        return WidthResult(Fit.LOSS, "labels lost: " + ", ".join(repr(label) for label in lost))
    return WidthResult(Fit.FITS)


def _labels_in_text(s: Side, t: Side, _: ColumnProfile | None) -> WidthResult:
    if t.column.length is None:
        return WidthResult(Fit.FITS)
    if not s.column.enum_values:
        return WidthResult(Fit.UNKNOWN, "labels unknown")
    longest = max(len(label) for label in s.column.enum_values)
    return _bounded(longest, t.column.length, "characters", None)


def _text_in_labels(s: Side, t: Side, profile: ColumnProfile | None) -> WidthResult:
    labels = set(t.column.enum_values or ())
    if profile is not None and profile.top_values:
        strays = [value for value in profile.top_values if value not in labels]
        if strays:
            return WidthResult(Fit.LOSS, "values not among the labels: " + ", ".join(map(repr, strays[:5])))
        if profile.values_complete:
            return WidthResult(Fit.FITS_BY_DATA, "every profiled value is a label")
    return WidthResult(Fit.UNKNOWN, "cannot tell whether every value is a label")


def _int_in_decimal(s: Side, t: Side, _: ColumnProfile | None) -> WidthResult:
    src = int_range(s.column, s.engine)
    if t.column.precision is None:
        return WidthResult(Fit.FITS)
    if src is None:
        return WidthResult(Fit.UNKNOWN, "integer width unknown")
    need = max(len(str(abs(src[0]))), len(str(src[1])))
    room = t.column.precision - (t.column.scale or 0)
    return (
        WidthResult(Fit.LOSS, f"needs {need} integer digits, has {room}")
        if need > room
        else WidthResult(Fit.FITS)
    )


def _int_in_float(s: Side, t: Side, _: ColumnProfile | None) -> WidthResult:
    src = int_range(s.column, s.engine)
    if src is None:
        return WidthResult(Fit.UNKNOWN, "integer width unknown")
    magnitude = max(abs(src[0]), src[1]).bit_length()
    mantissa = float_bits(t.column, t.engine)
    if magnitude > mantissa:
        return WidthResult(Fit.LOSS, f"{magnitude}-bit integers exceed a {mantissa}-bit mantissa")
    return WidthResult(Fit.FITS)


def _decimal_in_int(s: Side, t: Side, _: ColumnProfile | None) -> WidthResult:
    if (s.column.scale or 0) > 0:
        return WidthResult(Fit.LOSS, f"scale {s.column.scale} is truncated")
    tgt = stored_int_range(t.column, t.engine)
    if s.column.precision is None or tgt is None:
        return WidthResult(Fit.UNKNOWN, "digits unknown")
    if 10**s.column.precision - 1 > tgt[1]:
        return WidthResult(Fit.LOSS, f"{s.column.precision} digits exceed {tgt[0]}..{tgt[1]}")
    return WidthResult(Fit.FITS)


def _rendered_width(s: Side) -> int | None:
    col = s.column
    fsp = fractional_digits(col, s.engine) or 0
    fraction = fsp + 1 if fsp else 0
    if s.family is F.INTEGER:
        span = int_range(col, s.engine)
        return None if span is None else max(len(str(span[0])), len(str(span[1])))
    widths: dict[F, int | None] = {
        F.DECIMAL: None if col.precision is None else col.precision + 2,
        F.FLOAT: 24,
        F.BOOLEAN: 5,
        F.DATE: 10,
        F.TIME: 8 + fraction,
        F.TIMESTAMP: 19 + fraction,
        F.TIMESTAMPTZ: 25 + fraction,
        F.UUID: 36,
    }
    return widths.get(s.family)


def _rendered_length(s: Side, t: Side, profile: ColumnProfile | None) -> WidthResult:
    return _bounded(_rendered_width(s), t.column.length, "characters", _longest(profile))


_CHECKS: dict[Check, Callable[[Side, Side, ColumnProfile | None], WidthResult]] = {
    Check.NONE: lambda s, t, p: WidthResult(Fit.FITS),
    Check.INT_RANGE: _int_range,
    Check.DECIMAL_DIGITS: _decimal_digits,
    Check.FLOAT_BITS: _float_bits,
    Check.TEXT_LENGTH: _text_length,
    Check.BINARY_LENGTH: _binary_length,
    Check.FRACTIONAL_SECONDS: _fractional,
    Check.LABELS: _labels,
    Check.LABELS_IN_TEXT: _labels_in_text,
    Check.TEXT_IN_LABELS: _text_in_labels,
    Check.INT_IN_DECIMAL: _int_in_decimal,
    Check.INT_IN_FLOAT: _int_in_float,
    Check.DECIMAL_IN_INT: _decimal_in_int,
    Check.RENDERED_LENGTH: _rendered_length,
}


@dataclass(frozen=True)
class TypeJudgement:
    """What a column's type change means. ``category`` is None when nothing is worth reporting."""

    category: Category | None
    severity: Severity | None
    rule: str
    detail: str


def _spelling(data_type: str) -> str:
    return re.sub(r"\s+", "", data_type.lower())


def needs_profile(*, source: Column, target: Column, source_engine: str, target_engine: str) -> bool:
    """Whether judging this column pair reads the source column's value profile: only when the
    declarations alone leave the fit open (an unbounded text into a bounded one, a text becoming
    an enum ...); a fit or a loss the declarations decide needs no scan."""
    s_family, _ = effective_family(source.data_type, source.family, source_engine)
    t_family, _ = effective_family(target.data_type, target.family, target_engine)
    rule = find_rule(s_family, t_family, source_engine)
    if rule.verdict in (Verdict.INCOMPATIBLE, Verdict.NARROWED):
        return False
    if (
        s_family is F.OTHER
        and t_family is F.OTHER
        and _spelling(source.data_type) == _spelling(target.data_type)
    ):
        return False
    result = _CHECKS[rule.check](
        Side(source, s_family, source_engine), Side(target, t_family, target_engine), None
    )
    return result.fit is Fit.UNKNOWN


def judge_types(
    *,
    source: Column,
    target: Column,
    source_engine: str,
    target_engine: str,
    source_profile: ColumnProfile | None = None,
) -> TypeJudgement:
    """Look the family pair up in the mapping table, run its width check and grade the result."""
    s_family, s_spelling = effective_family(source.data_type, source.family, source_engine)
    t_family, t_spelling = effective_family(target.data_type, target.family, target_engine)
    rule = find_rule(s_family, t_family, source_engine)
    rule_name = " + ".join(name for name in (s_spelling, t_spelling, rule.name) if name)
    change = f"{source.data_type} -> {target.data_type}"
    if (
        s_family is F.OTHER
        and t_family is F.OTHER
        and _spelling(source.data_type) == _spelling(target.data_type)
    ):
        return TypeJudgement(None, None, rule_name, "")
    if rule.verdict is Verdict.INCOMPATIBLE:
        return TypeJudgement(
            Category.TYPE_INCOMPATIBLE,
            Severity.ERROR,
            rule_name,
            f"{change}: {s_family} cannot become {t_family}",
        )
    if rule.verdict is Verdict.NARROWED:
        return TypeJudgement(Category.TYPE_NARROWED, Severity.ERROR, rule_name, f"{change}: {rule.note}")
    result = _CHECKS[rule.check](
        Side(source, s_family, source_engine), Side(target, t_family, target_engine), source_profile
    )
    detail = f"{change}: {result.detail}" if result.detail else change
    if result.fit is Fit.LOSS or (result.fit is Fit.UNKNOWN and not dialect_of(source_engine).dynamic_typing):
        return TypeJudgement(Category.TYPE_NARROWED, Severity.ERROR, rule_name, detail)
    if result.fit is not Fit.FITS or rule.verdict is Verdict.CHANGED:
        if rule.note and not result.detail:
            detail = f"{change}: {rule.note}"
        return TypeJudgement(Category.TYPE_CHANGED, Severity.INFO, rule_name, detail)
    return TypeJudgement(None, None, rule_name, "")
