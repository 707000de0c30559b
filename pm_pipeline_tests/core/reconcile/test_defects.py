"""The classic migration defects are found on real engine pairs, with the right category and column, and a correct migration of the same data is clean."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from pm_pipeline.core.config.spec import ColumnRule, TableMapping
from pm_pipeline.core.findings import Category, TableReconciliation

from .engines import Col, Pair

UTC = dt.UTC
PARIS = dt.timezone(dt.timedelta(hours=1))  # winter offset of Europe/Paris
PARIS_SUMMER = dt.timezone(dt.timedelta(hours=2))


@dataclass(frozen=True)
class Defect:
    """One column migrated correctly (``good``) and with a defect (``bad``), row by row."""

    source_kind: str
    target_kind: str
    source: list[Any]
    good: list[Any]
    bad: list[Any]
    rule: ColumnRule = field(default_factory=ColumnRule)
    message: str = ""  # expected in the explanation of every finding
    bad_kind: str | None = None  # the defective target declared another type
    source_zone: str | None = None
    good_under_rule: int = 0  # cells of the correct migration equal only under the declared rule


def _t(*args: int) -> dt.datetime:
    return dt.datetime(*args)


NAIVE = [
    _t(2024, 1, 15, 9, 30),
    _t(2024, 7, 1, 23, 59, 59, 123456),
    _t(2023, 12, 31, 0, 0),
    None,
    _t(2000, 2, 29, 12, 0),
]
INSTANTS = [t if t is None else t.replace(tzinfo=UTC) for t in NAIVE]
WORDS = ["Alice", "Bob", "Zoë", None, "Ünïcødé"]

DEFECTS: dict[str, Defect] = {
    # A botched UPDATE during cutover, or a transformation applied to the wrong column.
    "changed-value": Defect("text", "text", WORDS, WORDS, ["Alice", "Robert", "Zoë", None, "Ünïcødé"]),
    # DATETIME dumped in UTC by one tool and loaded as local time by another: every row +1 h.
    "naive-datetime-shift": Defect(
        "ts",
        "ts",
        NAIVE,
        NAIVE,
        [t if t is None else t + dt.timedelta(hours=1) for t in NAIVE],
        message="shifted by +1 h",
    ),
    # TIMESTAMP values converted twice into the session zone: the instants move by -2 h.
    "timestamp-instant-shift": Defect(
        "tstz",
        "tstz",
        INSTANTS,
        INSTANTS,
        [t if t is None else t - dt.timedelta(hours=2) for t in INSTANTS],
        message="shifted by -2 h",
    ),
    # DECIMAL(12,4) loaded into a NUMERIC(12,2) staging column: cents survive, the rest is rounded.
    "decimal-scale-loss": Defect(
        "dec",
        "dec",
        [Decimal("12.3456"), Decimal("-0.5000"), Decimal("100"), None, Decimal("7.1200")],
        [Decimal("12.3456"), Decimal("-0.5"), Decimal("100.0000"), None, Decimal("7.12")],
        [Decimal("12.35"), Decimal("-0.5"), Decimal("100"), None, Decimal("7.12")],
        message="lost 2 decimal digit(s)",
    ),
    # A CSV round trip without a NULL marker: NULL comes back as the empty string.
    "null-became-empty": Defect(
        "text", "text", ["a", None, "c", None, "e"], ["a", None, "c", None, "e"], ["a", "", "c", None, "e"]
    ),
    # Oracle-style loaders treat '' as NULL.
    "empty-became-null": Defect(
        "text", "text", ["a", "", "c", "", "e"], ["a", "", "c", "", "e"], ["a", None, "c", "", "e"]
    ),
    # CHAR(n) padding carried into a VARCHAR column.
    "trailing-spaces": Defect(
        "text", "text", WORDS, WORDS, ["Alice   ", "Bob", "Zoë ", None, "Ünïcødé"], message="white space"
    ),
    # A cleansing step lower-cased e-mail addresses (the mailbox part is case-sensitive).
    "email-case": Defect(
        "text",
        "text",
        ["Ann@Example.com", "bob@x.org", None, "C.D@Y.io", "e@f.g"],
        ["Ann@Example.com", "bob@x.org", None, "C.D@Y.io", "e@f.g"],
        ["ann@example.com", "bob@x.org", None, "c.d@y.io", "e@f.g"],
        message="letter case",
    ),
    # Text exported on macOS (HFS+ stores NFD) and loaded byte for byte.
    "nfc-to-nfd": Defect(
        "text",
        "text",
        WORDS,
        WORDS,
        [w if w is None else unicodedata.normalize("NFD", w) for w in WORDS],
        message="normalisation",
    ),
    # UTF-8 bytes read through a Latin-1 connection and re-encoded: 'Zoë' -> 'ZoÃ«'.
    "mojibake": Defect(
        "text",
        "text",
        WORDS,
        WORDS,
        [w if w is None else w.encode("utf-8").decode("latin-1") for w in WORDS],
        message="mojibake",
    ),
    # utf8 (3-byte) MySQL target or a latin1 client: 4-byte characters become '?'.
    "emoji-to-question-mark": Defect(
        "text",
        "text",
        ["ok 😀", "plain", "🎉🎉", None, "x"],
        ["ok 😀", "plain", "🎉🎉", None, "x"],
        ["ok ?", "plain", "??", None, "x"],
        message="'?'",
    ),
    # VARCHAR(5) target with a non-strict loader: longer text silently cut.
    "text-truncated": Defect(
        "text",
        "text",
        ["short", "a longer text", "Zoë", None, "exactly"],
        ["short", "a longer text", "Zoë", None, "exactly"],
        ["short", "a lon", "Zoë", None, "exact"],
        message="truncated",
    ),
    # A zip code or account number column typed INTEGER in the target: '00123' -> 123.
    "leading-zeros-lost": Defect(
        "text",
        "text",
        ["00123", "12345", "007", None, "0"],
        ["00123", "12345", "007", None, "0"],
        [123, 12345, 7, None, 0],
        bad_kind="bigint",
    ),
    # A 0/1 -> boolean conversion written as "value = 0".
    "boolean-inverted": Defect(
        "bool",
        "bool",
        [True, False, None, True, False],
        [True, False, None, True, False],
        [False, True, None, True, True],
    ),
    # Legacy status letters mapped through a lookup table with one wrong entry.
    "enum-mapped-wrongly": Defect(
        "text",
        "text",
        ["A", "I", "S", None, "A"],
        ["active", "inactive", "suspended", None, "active"],
        ["active", "suspended", "suspended", None, "active"],
        rule=ColumnRule(value_map={"A": "active", "I": "inactive", "S": "suspended"}),
        good_under_rule=4,
    ),
    # Float arithmetic differences within the declared tolerance are noise; a real change is not.
    "float-beyond-tolerance": Defect(
        "float",
        "float",
        [0.1, 1e6 / 3, -2.5, None, 0.0],
        [0.1 + 1e-12, 1e6 / 3 * (1 + 1e-9), -2.5, None, 0.0],
        [0.1 + 1e-12, 1e6 / 3 * 1.001, -2.5, None, 0.0],
        rule=ColumnRule(rel_tolerance=1e-6, abs_tolerance=1e-9),
        good_under_rule=2,
        message="tolerance",
    ),
    # Naive legacy DATETIME written in Paris, loaded into timestamptz as if it were UTC.
    "naive-zone-read-as-utc": Defect(
        "ts",
        "tstz",
        [_t(2024, 1, 15, 9, 30), _t(2024, 7, 1, 12, 0), None, _t(2024, 3, 31, 1, 30), _t(2024, 10, 27, 4, 0)],
        [
            dt.datetime(2024, 1, 15, 9, 30, tzinfo=PARIS),
            dt.datetime(2024, 7, 1, 12, 0, tzinfo=PARIS_SUMMER),
            None,
            dt.datetime(2024, 3, 31, 1, 30, tzinfo=PARIS),
            dt.datetime(2024, 10, 27, 4, 0, tzinfo=PARIS),
        ],
        [
            dt.datetime(2024, 1, 15, 9, 30, tzinfo=UTC),
            dt.datetime(2024, 7, 1, 12, 0, tzinfo=UTC),
            None,
            dt.datetime(2024, 3, 31, 1, 30, tzinfo=UTC),
            dt.datetime(2024, 10, 27, 4, 0, tzinfo=UTC),
        ],
        source_zone="Europe/Paris",
        message="shifted by",
    ),
    # Declared: trailing blanks are insignificant (CHAR padding); a changed word still counts.
    "trim-declared": Defect(
        "text",
        "text",
        ["abc", "def", None, "x", "y"],
        ["abc  ", " def", None, "x", "y"],
        ["abc  ", "deg", None, "x", "y"],
        rule=ColumnRule(trim=True),
        good_under_rule=2,
    ),
    # Declared: e-mails compare case-insensitively; a different address still counts.
    "case-insensitive-declared": Defect(
        "text",
        "text",
        ["Ann@X.com", "b@y.org", None, "c", "d"],
        ["ann@x.com", "B@Y.ORG", None, "c", "d"],
        ["ann@x.com", "b@z.org", None, "c", "d"],
        rule=ColumnRule(case_insensitive=True),
        good_under_rule=2,
    ),
    # Declared: Unicode normal forms are equivalent; a different letter still counts.
    "unicode-nfc-declared": Defect(
        "text",
        "text",
        WORDS,
        [w if w is None else unicodedata.normalize("NFD", w) for w in WORDS],
        ["Alice", "Bob", "Zoe", None, unicodedata.normalize("NFD", "Ünïcødé")],
        rule=ColumnRule(unicode_nfc=True),
        good_under_rule=2,
    ),
    # Declared: the application treats NULL and '' alike; a lost value still counts.
    "null-equals-empty-declared": Defect(
        "text",
        "text",
        ["a", None, "", "d", None],
        ["a", "", None, "d", None],
        ["a", "", None, None, None],
        rule=ColumnRule(null_equals_empty=True),
        good_under_rule=2,
    ),
}


def _load(pair: Pair, case: Defect) -> None:
    rows = list(enumerate(case.source, start=1))
    pair.source.create("src", [Col("id", "int"), Col("v", case.source_kind)], rows, key=["id"])
    for table, kind, values in (
        ("good", case.target_kind, case.good),
        ("bad", case.bad_kind or case.target_kind, case.bad),
    ):
        pair.target.create(
            table, [Col("id", "int"), Col("v", kind)], list(enumerate(values, start=1)), key=["id"]
        )


def _reconcile(pair: Pair, case: Defect, target: str) -> TableReconciliation:
    mapping = TableMapping(source="src", target=target, key=["id"], columns={"v": case.rule})
    return pair.reconcile(mapping, source_zone=case.source_zone)


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_defect_is_found_and_correct_migration_is_clean(pair: Pair, defect: str) -> None:
    case = DEFECTS[defect]
    _load(pair, case)

    good = _reconcile(pair, case, "good")
    assert good.findings == (), [(f.source_value, f.target_value, f.message) for f in good.findings]
    assert good.matched_rows == len(case.source)
    (stats,) = good.columns
    assert stats.mismatched == 0
    assert sum(stats.equal_under_rule.values()) == case.good_under_rule
    assert stats.exact == len(case.source) - case.good_under_rule

    bad = _reconcile(pair, case, "bad")
    expected_keys = [
        i
        for i, (g, b) in enumerate(zip(case.good, case.bad, strict=True), start=1)
        if g != b and str(g) != str(b)
    ]
    assert expected_keys, "a defect case must change at least one row"
    assert Counter(f.category for f in bad.findings) == {Category.VALUE_MISMATCH: len(expected_keys)}
    assert sorted(f.key["id"] for f in bad.findings if f.key) == expected_keys
    assert {f.column for f in bad.findings} == {"v"}
    assert all(case.message in f.message for f in bad.findings), [f.message for f in bad.findings]
    assert bad.changed_rows == len(expected_keys)
    assert not bad.passed
