"""The documented type-mapping table: how a column's type may change between engines, as data.

Each :class:`TypeRule` row says what moving a value from a source type family to a target type
family does: ``same`` (no finding unless the width check fails), ``changed`` (compatible but a
different kind of value: ``type_changed``, INFO), ``narrowed`` (information is always lost:
``type_narrowed``, ERROR). A pair found in no row is ``incompatible`` (``type_incompatible``,
ERROR). Rows restricted to source engines come first and win. :data:`SPELLINGS` (each dialect's
``type_spellings``) first re-reads engine spellings whose meaning differs from their family
(MariaDB ``tinyint(1)`` is a boolean).
:func:`type_table_markdown` renders both tables into docs/readme/schema.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pm_pipeline.core.connectors.schema import TypeFamily as F
from pm_pipeline.core.dialects import ENGINES, Dialect, dialect_for
from pm_pipeline.core.dialects import canonical_engine as canonical_engine


class Verdict(StrEnum):
    SAME = "same"
    CHANGED = "changed"
    NARROWED = "narrowed"
    INCOMPATIBLE = "incompatible"


class Check(StrEnum):
    """Which width check runs once a row matched (see widths.py)."""

    NONE = "-"
    INT_RANGE = "integer range (bits, signedness)"
    DECIMAL_DIGITS = "integer digits and scale"
    FLOAT_BITS = "mantissa bits (24 single, 53 double)"
    TEXT_LENGTH = "maximum characters"
    BINARY_LENGTH = "maximum bytes"
    FRACTIONAL_SECONDS = "fractional-second digits"
    LABELS = "labels kept"
    LABELS_IN_TEXT = "longest label fits"
    TEXT_IN_LABELS = "profiled values are labels"
    INT_IN_DECIMAL = "integer digits fit"
    INT_IN_FLOAT = "integer bits fit the mantissa"
    DECIMAL_IN_INT = "scale 0 and digits fit"
    RENDERED_LENGTH = "text rendering fits the length"


@dataclass(frozen=True)
class TypeRule:
    name: str
    source: tuple[F, ...]
    target: tuple[F, ...]
    verdict: Verdict
    check: Check = Check.NONE
    source_engines: frozenset[str] | None = None  # None: any source engine
    note: str = ""

    def matches(self, source: F, target: F, source_engine: str) -> bool:
        if self.source_engines is not None and source_engine not in self.source_engines:
            return False
        return source in self.source and target in self.target


_NO_ENGINE = Dialect()


def dialect_of(engine: str) -> Dialect:
    """The dialect of ``engine``; for a name no dialect knows, one with no engine's particulars."""
    return dialect_for(engine) if canonical_engine(engine) else _NO_ENGINE


def _engines_where(capability: Callable[[Dialect], bool]) -> frozenset[str]:
    return frozenset(engine for engine in ENGINES if capability(dialect_for(engine)))


_SCALARS = (F.INTEGER, F.DECIMAL, F.FLOAT, F.BOOLEAN, F.DATE, F.TIME, F.TIMESTAMP, F.TIMESTAMPTZ)
_DYNAMIC_TYPING = _engines_where(lambda dialect: dialect.dynamic_typing)
_UTC_WALL_TIME = _engines_where(lambda dialect: dialect.instants_read_as_utc_wall_time)
_ALL = tuple(F)

TYPE_RULES: tuple[TypeRule, ...] = (
    # SQLite declares loose types: dates, decimals and UUIDs live in TEXT, booleans in INTEGER.
    TypeRule("sqlite_text_as_typed", (F.TEXT,), (F.DATE, F.TIME, F.TIMESTAMP, F.TIMESTAMPTZ, F.DECIMAL, F.UUID),
             Verdict.CHANGED, source_engines=_DYNAMIC_TYPING,
             note="SQLite keeps these as text; reconciliation parses and verifies every value"),
    TypeRule("sqlite_integer_as_boolean", (F.INTEGER,), (F.BOOLEAN,), Verdict.CHANGED,
             source_engines=_DYNAMIC_TYPING, note="SQLite has no boolean type: 0/1 integers become booleans"),
    # Connectors read MariaDB/MySQL in a UTC session: a TIMESTAMP arrives as its UTC wall time.
    TypeRule("mysql_timestamp_to_timestamp", (F.TIMESTAMPTZ,), (F.TIMESTAMP,), Verdict.CHANGED,
             Check.FRACTIONAL_SECONDS, source_engines=_UTC_WALL_TIME,
             note="MariaDB/MySQL TIMESTAMP is read in UTC: a timestamp holding the UTC wall time is equal; "
             "reconciliation checks every value"),
    # Same kind of value: only the width can lose information.
    TypeRule("integer_width", (F.INTEGER,), (F.INTEGER,), Verdict.SAME, Check.INT_RANGE,
             note="int(11) -> integer is equal; unsigned int -> bigint fits, unsigned int -> int does not"),
    TypeRule("decimal_digits", (F.DECIMAL,), (F.DECIMAL,), Verdict.SAME, Check.DECIMAL_DIGITS,
             note="decimal(12,2) -> numeric(12,2) is equal; an unbounded numeric target fits anything"),
    TypeRule("float_bits", (F.FLOAT,), (F.FLOAT,), Verdict.SAME, Check.FLOAT_BITS),
    TypeRule("text_length", (F.TEXT,), (F.TEXT,), Verdict.SAME, Check.TEXT_LENGTH,
             note="varchar(n) -> text widens; an unbounded source is checked against profiled lengths"),
    TypeRule("binary_length", (F.BINARY,), (F.BINARY,), Verdict.SAME, Check.BINARY_LENGTH),
    TypeRule("boolean", (F.BOOLEAN,), (F.BOOLEAN,), Verdict.SAME, note="tinyint(1) / bit(1) -> boolean"),
    TypeRule("date", (F.DATE,), (F.DATE,), Verdict.SAME),
    TypeRule("time_precision", (F.TIME,), (F.TIME,), Verdict.SAME, Check.FRACTIONAL_SECONDS),
    TypeRule("timestamp_precision", (F.TIMESTAMP,), (F.TIMESTAMP,), Verdict.SAME, Check.FRACTIONAL_SECONDS,
             note="datetime(6) -> timestamp(6) is equal; timestamp(6) -> timestamp(3) drops digits"),
    TypeRule("timestamptz_precision", (F.TIMESTAMPTZ,), (F.TIMESTAMPTZ,), Verdict.SAME,
             Check.FRACTIONAL_SECONDS, note="MySQL TIMESTAMP -> timestamptz is equal"),
    TypeRule("interval", (F.INTERVAL,), (F.INTERVAL,), Verdict.SAME),
    TypeRule("json", (F.JSON,), (F.JSON,), Verdict.SAME, note="json -> jsonb: key order is not data"),
    TypeRule("uuid", (F.UUID,), (F.UUID,), Verdict.SAME),
    TypeRule("enum_labels", (F.ENUM,), (F.ENUM,), Verdict.SAME, Check.LABELS,
             note="a PostgreSQL enum with the same labels (or more) is equal"),
    TypeRule("set_labels", (F.SET,), (F.SET,), Verdict.SAME, Check.LABELS),
    TypeRule("enum_as_text", (F.ENUM,), (F.TEXT,), Verdict.SAME, Check.LABELS_IN_TEXT,
             note="enum -> text/varchar wide enough for the longest label is equal"),
    # Compatible, but a different kind of value.
    TypeRule("integer_to_decimal", (F.INTEGER,), (F.DECIMAL,), Verdict.CHANGED, Check.INT_IN_DECIMAL),
    TypeRule("integer_to_float", (F.INTEGER,), (F.FLOAT,), Verdict.CHANGED, Check.INT_IN_FLOAT,
             note="bigint -> double loses integers above 2^53"),
    TypeRule("decimal_to_integer", (F.DECIMAL,), (F.INTEGER,), Verdict.CHANGED, Check.DECIMAL_IN_INT),
    TypeRule("float_to_decimal", (F.FLOAT,), (F.DECIMAL,), Verdict.CHANGED,
             note="values are rounded to the target scale; reconcile with a tolerance"),
    TypeRule("boolean_to_integer", (F.BOOLEAN,), (F.INTEGER,), Verdict.CHANGED),
    TypeRule("date_to_timestamp", (F.DATE,), (F.TIMESTAMP, F.TIMESTAMPTZ), Verdict.CHANGED),
    TypeRule("timestamp_to_timestamptz", (F.TIMESTAMP,), (F.TIMESTAMPTZ,), Verdict.CHANGED,
             Check.FRACTIONAL_SECONDS, note="naive values need a zone: set source_timezone in the spec"),
    TypeRule("time_to_interval", (F.TIME,), (F.INTERVAL,), Verdict.CHANGED,
             note="MySQL TIME also holds durations up to 838 hours"),
    TypeRule("text_to_json", (F.TEXT,), (F.JSON,), Verdict.CHANGED,
             note="MariaDB's JSON is LONGTEXT; values must parse as JSON"),
    TypeRule("text_to_uuid", (F.TEXT,), (F.UUID,), Verdict.CHANGED, note="char(36) UUIDs; values must parse"),
    TypeRule("text_to_enum", (F.TEXT,), (F.ENUM,), Verdict.CHANGED, Check.TEXT_IN_LABELS),
    TypeRule("binary_to_uuid", (F.BINARY,), (F.UUID,), Verdict.CHANGED, note="binary(16) UUIDs"),
    TypeRule("uuid_to_binary", (F.UUID,), (F.BINARY,), Verdict.CHANGED),
    TypeRule("set_to_text_or_json", (F.SET,), (F.TEXT, F.JSON, F.OTHER), Verdict.CHANGED,
             note="a MySQL SET becomes a comma-separated string or an array"),
    TypeRule("scalar_to_text", (*_SCALARS, F.INTERVAL, F.JSON, F.UUID), (F.TEXT,), Verdict.CHANGED,
             Check.RENDERED_LENGTH, note="text holds the rendering; comparisons become textual"),
    TypeRule("other_type", (F.OTHER,), _ALL, Verdict.CHANGED, note="a type pm-pipeline cannot judge; check by hand"),
    TypeRule("to_other_type", _ALL, (F.OTHER,), Verdict.CHANGED, note="a type pm-pipeline cannot judge; check by hand"),
    # Always loses information.
    TypeRule("timestamptz_to_timestamp", (F.TIMESTAMPTZ,), (F.TIMESTAMP,), Verdict.NARROWED,
             note="the instant's zone is lost: timestamptz -> timestamp without time zone"),
    TypeRule("temporal_to_date", (F.TIMESTAMP, F.TIMESTAMPTZ), (F.DATE,), Verdict.NARROWED,
             note="the time of day is lost"),
    TypeRule("decimal_to_float", (F.DECIMAL,), (F.FLOAT,), Verdict.NARROWED, note="exact decimals become binary floats"),
    TypeRule("float_to_integer", (F.FLOAT,), (F.INTEGER,), Verdict.NARROWED, note="fractions are lost"),
    TypeRule("integer_to_boolean", (F.INTEGER,), (F.BOOLEAN,), Verdict.NARROWED, note="values other than 0/1 are lost"),
)  # fmt: skip

INCOMPATIBLE = TypeRule(
    "incompatible", (), (), Verdict.INCOMPATIBLE, note="any pair in no row, e.g. text -> integer"
)


@dataclass(frozen=True)
class Spelling:
    """An engine spelling whose meaning differs from the family a connector may give it."""

    name: str
    engines: frozenset[str]
    pattern: str
    family: F
    note: str


def _spellings() -> tuple[Spelling, ...]:
    """Every dialect's type spellings, each once with the engines that share it."""
    engines: dict[tuple[str, str, str, str], set[str]] = {}
    for engine in ENGINES:
        for spelling in dialect_for(engine).type_spellings:
            engines.setdefault(spelling, set()).add(engine)
    return tuple(
        Spelling(name, frozenset(found), pattern, F(family), note)
        for (name, pattern, family, note), found in engines.items()
    )


SPELLINGS = _spellings()


def effective_family(data_type: str, family: F, engine: str) -> tuple[F, str | None]:
    """The family a column really has, and the spelling rule that said so (if any)."""
    spelled = data_type.strip().lower()
    for spelling in SPELLINGS:
        if engine in spelling.engines and re.match(spelling.pattern, spelled):
            return spelling.family, spelling.name
    return family, None


def find_rule(source: F, target: F, source_engine: str) -> TypeRule:
    for rule in TYPE_RULES:
        if rule.matches(source, target, source_engine):
            return rule
    return INCOMPATIBLE


def _families(families: tuple[F, ...]) -> str:
    return "any" if set(families) == set(F) else ", ".join(str(f) for f in families)


def type_table_markdown() -> str:
    """Both tables as Markdown, exactly as docs/readme/schema.md shows them."""
    lines = [
        "| rule | source family | target family | verdict | width check | source engines | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for rule in (*TYPE_RULES, INCOMPATIBLE):
        engines = "any" if rule.source_engines is None else ", ".join(sorted(rule.source_engines))
        source = _families(rule.source) if rule.source else "any other"
        target = _families(rule.target) if rule.target else "any other"
        lines.append(
            f"| `{rule.name}` | {source} | {target} | {rule.verdict} | {rule.check} | {engines} | {rule.note} |"
        )
    lines += [
        "",
        "| spelling rule | engines | declared type matches | read as | why |",
        "|---|---|---|---|---|",
    ]
    for spelling in SPELLINGS:
        pattern = spelling.pattern.replace("|", "\\|")
        lines.append(
            f"| `{spelling.name}` | {', '.join(sorted(spelling.engines))} | `{pattern}` | "
            f"{spelling.family} | {spelling.note} |"
        )
    return "\n".join(lines) + "\n"
