"""Which family a (source column, target column) pair is compared in, and under which rules.

The pair's family decides the canonical form both sides are turned into. Type conversions that
carry the same information (tinyint(1) 0/1 -> boolean, naive -> instant in a declared zone,
integer -> decimal) are exact; options the spec declares (trim, tolerances, value maps) make a
cell "equal under rule".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pm_pipeline.core.config.spec import Classification, ColumnRule
from pm_pipeline.core.connectors.schema import Column, TypeFamily
from pm_pipeline.core.errors import BadInputError

F = TypeFamily

# Relative tolerance applied to floating-point columns when the spec declares none: noise in
# the 12th significant digit (binary round-trips between engines) is not a difference.
DEFAULT_FLOAT_REL_TOLERANCE = 1e-9

_NUMERIC = {F.INTEGER, F.DECIMAL, F.FLOAT}
_TEMPORAL = {F.DATE, F.TIMESTAMP, F.TIMESTAMPTZ}
_TEXTUAL = {F.TEXT, F.ENUM, F.OTHER}
# Not ``\b``: after "tinyint(1)" the closing parenthesis and the end of text are both non-word
# characters, so a word boundary never matches there.
_BOOL_INT_TYPE = re.compile(r"^(tinyint\(1\)|bit\(1\)|bit)(\s|$)", re.IGNORECASE)


def looks_boolean(column: Column) -> bool:
    """tinyint(1) and bit(1) are the usual MySQL spellings of a boolean."""
    return column.family is F.BOOLEAN or bool(_BOOL_INT_TYPE.match(column.data_type.strip()))


def comparison_family(source: Column, target: Column, rule: ColumnRule) -> TypeFamily:
    """The family both sides of a column pair are canonicalised into.

    Raises BadInputError when the spec declares list options for a pair that holds no lists.
    """
    family = _family(source, target, rule)
    if family is not F.SET and (rule.list_order is not None or rule.list_separator is not None):
        raise BadInputError(
            f"column {source.name} ({source.data_type} -> {target.data_type}): 'list_order' and "
            "'list_separator' apply to arrays, lists, MySQL SETs and text columns declared as lists"
        )
    return family


def is_list(column: Column, rule: ColumnRule) -> bool:
    """An array or list column, a MySQL SET, or text the spec declares a delimited list."""
    return (
        column.element is not None
        or column.family is F.SET
        or (rule.list_separator is not None and column.family in _TEXTUAL and column.family is not F.OTHER)
    )


def mysql_set(column: Column) -> bool:
    return column.family is F.SET and column.element is None


def element_of(column: Column) -> Column:
    """What one element of a list-like column is: an array's element; text for a SET or a text list."""
    return column.element or Column(name=column.name, data_type="text", family=F.TEXT)


def _family(source: Column, target: Column, rule: ColumnRule) -> TypeFamily:
    s, t = source.family, target.family
    if rule.as_json:
        return F.JSON
    if is_list(source, rule) and is_list(target, rule):
        return F.SET  # one family for sets and lists; ColumnPlan.list_ordered tells which
    if rule.boolean or (F.BOOLEAN in (s, t) and looks_boolean(source) and looks_boolean(target)):
        return F.BOOLEAN
    if s == t:
        if s is F.INTEGER and (_huge_unsigned(source) or _huge_unsigned(target)):
            return F.DECIMAL
        return F.TEXT if s is F.ENUM else s
    pair = {s, t}
    if pair <= _NUMERIC:
        if F.FLOAT in pair:
            return F.FLOAT
        return F.DECIMAL
    if pair <= _TEMPORAL:
        if F.TIMESTAMPTZ in pair:
            return F.TIMESTAMPTZ
        return F.TIMESTAMP
    if pair <= (_TEXTUAL | {F.SET}):
        return F.SET if F.SET in pair else F.TEXT
    # One side holds text, the other a typed value: parse the text into the typed family, so
    # that '2024-01-01 10:00:00' equals the timestamp it spells. Numbers are the exception:
    # '00123' must stay different from 123 (leading zeros lost), so they compare as text.
    other = (pair - _TEXTUAL).pop() if len(pair - _TEXTUAL) == 1 else None
    if other is not None and other in _TEMPORAL | {F.UUID, F.JSON, F.TIME}:
        return other
    return F.TEXT


def _huge_unsigned(column: Column) -> bool:
    return column.unsigned and (column.precision or 64) >= 64


@dataclass(frozen=True)
class ColumnPlan:
    """How one source column is compared with its target column."""

    source: Column
    target: Column
    family: TypeFamily
    rule: ColumnRule
    source_zone: str
    target_zone: str

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def target_name(self) -> str:
        return self.target.name

    @property
    def tolerant(self) -> bool:
        """Compared by distance, not by equality: never part of a row hash."""
        if self.family is F.FLOAT:
            return True
        if self.family in (F.DECIMAL, F.INTEGER):
            return self.rule.abs_tolerance is not None or self.rule.rel_tolerance is not None
        if self.family in (F.TIMESTAMP, F.TIMESTAMPTZ, F.TIME):
            return self.rule.timestamp_tolerance is not None
        return False

    @property
    def common_scale(self) -> int | None:
        """The scale both sides declare for an exactly compared decimal column, else None: such a
        column is hashed as text with that many fractional digits (``values.decimal_hash_text``)."""
        if self.family is not F.DECIMAL or self.tolerant or self.has_value_rules:
            return None
        source, target = self.source, self.target
        if source.family is not F.DECIMAL or target.family is not F.DECIMAL or source.scale != target.scale:
            return None
        return source.scale

    @property
    def abs_tolerance(self) -> float:
        return self.rule.abs_tolerance or 0.0

    @property
    def rel_tolerance(self) -> float:
        if self.rule.rel_tolerance is not None:
            return self.rule.rel_tolerance
        if self.family is F.FLOAT and self.rule.abs_tolerance is None:
            return DEFAULT_FLOAT_REL_TOLERANCE
        return 0.0

    @property
    def declared_rules(self) -> tuple[str, ...]:
        """Names of the spec options that can make unequal values compare equal."""
        rule = self.rule
        names: list[str] = []
        if self.family is F.FLOAT or rule.abs_tolerance is not None or rule.rel_tolerance is not None:
            if rule.abs_tolerance is not None:
                names.append(f"abs_tolerance={rule.abs_tolerance:g}")
            if self.rel_tolerance:
                names.append(f"rel_tolerance={self.rel_tolerance:g}")
        for flag in ("trim", "case_insensitive", "unicode_nfc", "null_equals_empty"):
            if getattr(rule, flag):
                names.append(flag)
        if rule.value_map:
            names.append("value_map")
        if self.maps_zero_dates:
            names.append("zero_date=null")
        if rule.timestamp_precision:
            names.append(f"timestamp_precision={rule.timestamp_precision}")
        if rule.timestamp_tolerance:
            names.append(f"timestamp_tolerance={rule.timestamp_tolerance}")
        return tuple(names)

    @property
    def has_value_rules(self) -> bool:
        """Declared options that transform values before hashing (tolerances do not). The zero-date
        rule is not one: hashes keep zero dates apart (in SQL too), so a row holding one is compared
        cell by cell, where the rule applies (``compares_under_rules``), and counted under it."""
        rule = self.rule
        return bool(
            rule.trim
            or rule.case_insensitive
            or rule.unicode_nfc
            or rule.null_equals_empty
            or rule.value_map
            or rule.timestamp_precision
        )

    @property
    def compares_under_rules(self) -> bool:
        """Cells are compared a second time, under the rules: declared value rules or zero dates."""
        return self.has_value_rules or self.maps_zero_dates

    @property
    def maps_zero_dates(self) -> bool:
        """Whether a zero date ('0000-00-00') equals NULL here: by default wherever a side can hold
        one (a MariaDB/MySQL or SQLite date, text read as a date), on any date pair under a declared
        ``zero_date: null``, never under ``zero_date: strict``. A pair that cannot hold zero dates
        gets no rule, so its hashing and strategy stay as they were."""
        if self.family not in _TEMPORAL or self.rule.zero_date == "strict":
            return False
        if self.rule.zero_date == "null":
            return True
        return any(side.zero_dates or side.family in (F.TEXT, F.OTHER) for side in (self.source, self.target))

    @property
    def list_ordered(self) -> bool:
        """SET family: compared as ordered lists (else as sets: order free, duplicates collapse)."""
        if self.rule.list_order is not None:
            return self.rule.list_order == "ordered"
        return not (mysql_set(self.source) or mysql_set(self.target))

    def list_separator(self, side: str) -> str | None:
        """The separator splitting one side's text into elements (a MySQL SET: ','), or None: an array."""
        column = self.source if side == "source" else self.target
        if column.element is not None:
            return None
        return "," if mysql_set(column) else self.rule.list_separator or ","

    @property
    def element_plan(self) -> ColumnPlan:
        """How the elements of a SET-family pair are compared: in their own family, with the
        column's text options and zones (tolerances, value maps and NULL rules apply to whole values)."""
        source, target = element_of(self.source), element_of(self.target)
        rule = self.rule
        element_rule = ColumnRule(
            trim=rule.trim,
            case_insensitive=rule.case_insensitive,
            unicode_nfc=rule.unicode_nfc,
            source_timezone=rule.source_timezone,
            target_timezone=rule.target_timezone,
        )
        return ColumnPlan(
            source=source,
            target=target,
            family=comparison_family(source, target, ColumnRule()),
            rule=element_rule,
            source_zone=self.source_zone,
            target_zone=self.target_zone,
        )

    @property
    def rule_label(self) -> str:
        shape: tuple[str, ...] = ()
        if self.family is F.SET:
            shape = ("ordered_list",) if self.list_ordered else ("set",)
        return "+".join((*shape, *self.declared_rules)) or "exact"

    @property
    def recorded_family(self) -> str:
        """The family as a checksum manifest records it: the SET family with its order and separator."""
        if self.family is not F.SET:
            return str(self.family)
        label = f"{F.SET}:{'ordered' if self.list_ordered else 'unordered'}"
        return label + (f":{self.rule.list_separator}" if self.rule.list_separator else "")

    @property
    def classification(self) -> Classification | None:
        return self.rule.classification


def recorded_plan(column: Column, recorded_family: str, *, zone: str) -> ColumnPlan:
    """The plan that recomputes one side's checksum from what a manifest recorded (``recorded_family``)."""
    family, _, rest = recorded_family.partition(":")
    order, _, separator = rest.partition(":")
    rule = ColumnRule(
        list_order="ordered" if order == "ordered" else "unordered" if order else None,
        list_separator=separator or None,
    )
    return ColumnPlan(
        source=column, target=column, family=TypeFamily(family), rule=rule, source_zone=zone, target_zone=zone
    )
