"""Compare aligned source and target cells of one column: exact-equal, equal-under-rule, or different."""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass
from enum import IntEnum

import pyarrow as pa
import pyarrow.compute as pc

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.canonical.unreadable import raw_text, readable_canonical
from pm_pipeline.core.canonical.values import INFINITE_INSTANT
from pm_pipeline.core.connectors.schema import TypeFamily

F = TypeFamily


class CellResult(IntEnum):
    EXACT = 0
    UNDER_RULE = 1
    DIFFERENT = 2


@dataclass(frozen=True)
class CellComparison:
    """Per-row outcome for one column over a set of aligned rows."""

    plan: ColumnPlan
    results: list[CellResult]
    source_canonical: pa.Array
    target_canonical: pa.Array
    abs_diff: list[float | None]

    @property
    def different_rows(self) -> list[int]:
        return [i for i, result in enumerate(self.results) if result is CellResult.DIFFERENT]


def _null_safe_equal(left: pa.Array, right: pa.Array) -> list[bool]:
    equal = pc.equal(left, right)
    both_null = pc.and_(pc.is_null(left), pc.is_null(right))
    if pa.types.is_floating(left.type) and pa.types.is_floating(right.type):
        # NaN stored on both sides is the same value, not one equal "under a tolerance".
        both_null = pc.or_kleene(both_null, pc.fill_null(pc.and_(pc.is_nan(left), pc.is_nan(right)), False))
    merged = pc.or_kleene(pc.fill_null(equal, False), both_null)
    return [bool(v) for v in merged.to_pylist()]


def _unreadable_cells(
    equal: list[bool], source_raw: pa.Array, target_raw: pa.Array, bad_s: set[int], bad_t: set[int]
) -> None:
    """Set ``equal`` for cells holding an unreadable value: equal only to the same raw value
    unreadable on the other side."""
    for index in bad_s | bad_t:
        equal[index] = (
            index in bad_s
            and index in bad_t
            and raw_text(source_raw[index].as_py()) == raw_text(target_raw[index].as_py())
        )


def within_tolerance(plan: ColumnPlan, left: object, right: object) -> tuple[bool, float | None]:
    """Whether two canonical values are equal under the plan's tolerance, and their distance."""
    if left is None or right is None:
        return left is None and right is None, None
    if plan.family is F.DECIMAL:
        try:
            a, b = decimal.Decimal(str(left)), decimal.Decimal(str(right))
        except decimal.InvalidOperation:
            return False, None
        if a.is_infinite() or b.is_infinite():  # a relative bound of infinity would admit anything
            return a == b, None
        exact_diff = abs(a - b)
        exact_bound = max(
            decimal.Decimal(str(plan.abs_tolerance)),
            decimal.Decimal(str(plan.rel_tolerance)) * max(abs(a), abs(b)),
        )
        return exact_diff <= exact_bound, float(exact_diff)
    if plan.family in (F.TIMESTAMP, F.TIMESTAMPTZ, F.TIME):
        delta = plan.rule.timestamp_tolerance_delta
        tolerance_us = 0 if delta is None else round(delta.total_seconds() * 1_000_000)
        assert isinstance(left, int) and isinstance(right, int)
        if INFINITE_INSTANT in (abs(left), abs(right)):  # infinity is at no distance from anything
            return left == right, None
        distance = abs(left - right)
        return distance <= tolerance_us, distance / 1_000_000
    assert isinstance(left, int | float) and isinstance(right, int | float)
    fa, fb = float(left), float(right)
    if fa != fa or fb != fb:  # NaN equals NaN here: both sides hold "not a number"
        return (fa != fa) and (fb != fb), None
    if math.isinf(fa) or math.isinf(fb):  # a relative bound of infinity would admit anything
        return fa == fb, None
    diff = abs(fa - fb)
    bound = max(plan.abs_tolerance, plan.rel_tolerance * max(abs(fa), abs(fb)))
    return diff <= bound, diff


def compare_cells(plan: ColumnPlan, source_raw: pa.Array, target_raw: pa.Array) -> CellComparison:
    """Classify every aligned (source, target) cell of one column."""
    # A value unreadable as the family (reported while the side was read) is compared as NULL
    # here too, and its cell is equal only to the same raw value unreadable on the other side.
    strict_s, bad_s = readable_canonical(source_raw, plan=plan, side="source", found=None, strict=True)
    strict_t, bad_t = readable_canonical(target_raw, plan=plan, side="target", found=None, strict=True)
    exact = _null_safe_equal(strict_s, strict_t)
    if bad_s or bad_t:
        _unreadable_cells(exact, source_raw, target_raw, set(bad_s), set(bad_t))
    if plan.compares_under_rules:
        ruled_s, _ = readable_canonical(
            source_raw, plan=plan, side="source", found=None, strict=False, for_cells=True
        )
        ruled_t, _ = readable_canonical(
            target_raw, plan=plan, side="target", found=None, strict=False, for_cells=True
        )
    else:
        ruled_s, ruled_t = strict_s, strict_t
    ruled_equal = _null_safe_equal(ruled_s, ruled_t) if plan.compares_under_rules else exact
    if (bad_s or bad_t) and plan.compares_under_rules:
        _unreadable_cells(ruled_equal, source_raw, target_raw, set(bad_s), set(bad_t))
    unreadable = set(bad_s) | set(bad_t)
    results: list[CellResult] = []
    distances: list[float | None] = []
    left_values, right_values = ruled_s.to_pylist(), ruled_t.to_pylist()
    numeric = plan.family in (F.INTEGER, F.DECIMAL, F.FLOAT)
    for index, (is_exact, is_ruled) in enumerate(zip(exact, ruled_equal, strict=True)):
        left, right = left_values[index], right_values[index]
        distance: float | None = None
        if index in unreadable:
            pass  # no distance to a value that could not be read
        elif plan.tolerant and not is_exact:
            ok, distance = within_tolerance(plan, left, right)
            is_ruled = is_ruled or ok
        elif numeric and left is not None and right is not None and not is_exact:
            _, distance = within_tolerance(plan, left, right)
        distances.append(distance)
        if is_exact:
            results.append(CellResult.EXACT)
        elif is_ruled:
            results.append(CellResult.UNDER_RULE)
        else:
            results.append(CellResult.DIFFERENT)
    return CellComparison(
        plan=plan, results=results, source_canonical=ruled_s, target_canonical=ruled_t, abs_diff=distances
    )
