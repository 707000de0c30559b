"""Canonical text in SQL: the family -> SQL tree, written once over each dialect's primitives.

Every pushed-down column becomes its canonical text (the text form of the canonical value of
``pm_pipeline.core.canonical.values``), in the SQL of its engine's
:class:`~pm_pipeline.core.dialects.Dialect`:

    INTEGER, TIMESTAMP(TZ) -> decimal digits (timestamps as microseconds since the epoch, UTC)
    DECIMAL -> normalised decimal text    BOOLEAN -> 'true' / 'false'     DATE -> 'YYYY-MM-DD'
    TEXT, ENUM -> the text (CHAR padding removed)   BINARY -> lower-case hex   UUID -> lower-case
    SET (sets, arrays, lists) -> the JSON array of element texts (``sqllists``)

A field is ``<characters>:<text>`` or ``N`` for NULL, so a row's concatenated fields are
unambiguous. The row hash is the first 60 bits of the MD5 of that text, as a non-negative
BIGINT, identical in every dialect that hashes rows; sums of row hashes never overflow.
Same-engine pairs with identical column types may hash the typed values with the engine's own
hash functions instead (``native_hash_sql``).

A column that an engine cannot render canonically in SQL (JSON, MariaDB text lists, declared value
rules, naive timestamps in a non-UTC zone, floats) is not pushed down: it is read as is and
compared on the Arrow side, so pushdown never changes an answer.

The SQL text follows what the reader hands to canonicalisation, quirks included: dates before
year 1 as Arrow writes them ('0000-01-01', '-0043-03-15'), ±infinity as canonical values
(instants ±(2^63 - 1), dates 'infinity' / '-infinity', in PostgreSQL and DuckDB), MariaDB's year 0
(which it counts as a common year) corrected, YEAR as the number the driver reads, a MariaDB zero
date as itself (never NULL: a row holding one hashes apart and is compared cell by cell, where the
zero_date rule applies). A few values have no faithful reference, because the reader cannot hand
them over; their text is one no other value has, so a row holding one hashes as different and the
comparison of the fetched rows settles it (never a false match):

    PostgreSQL dates after year 32767         their own text (Arrow's strftime wraps the year)
    MariaDB partly zero dates and times       '?' + the value ('?2024-00-10 10:00:00')
    PostgreSQL UUIDs held as text             trimmed of ASCII white space only (other encodings
                                              than UTF-8 cannot spell the rest)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.canonical.sqllists import list_text_sql
from pm_pipeline.core.canonical.values import INFINITE_INSTANT, ZERO_INSTANT, Side
from pm_pipeline.core.connectors.schema import Column, TypeFamily
from pm_pipeline.core.dialects import Dialect

F = TypeFamily
CHAR_TYPES = ("char(", "character(", "bpchar", "nchar(")
MASK60 = (1 << 60) - 1
_UTC = ("UTC", "Etc/UTC")
# The white space Arrow's utf8_trim_whitespace removes (UUIDs held as text are trimmed of it).
ARROW_WHITE_SPACE = (*range(0x09, 0x0E), *range(0x1C, 0x21), 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B))
ARROW_WHITE_SPACE += (0x2028, 0x2029, 0x202F, 0x205F, 0x3000)
_INSTANTS = (F.TIMESTAMP, F.TIMESTAMPTZ)


def _column(plan: ColumnPlan, side: Side) -> Column:
    return plan.source if side == "source" else plan.target


def _zone_is_utc(plan: ColumnPlan, side: Side) -> bool:
    rule_zone = plan.rule.source_timezone if side == "source" else plan.rule.target_timezone
    if rule_zone is not None:
        return False
    zone = plan.source_zone if side == "source" else plan.target_zone
    return _column(plan, side).family is F.TIMESTAMPTZ or zone in _UTC


def canonical_text_sql(dialect: Dialect, plan: ColumnPlan, side: Side, quoted: str) -> str | None:
    """SQL giving the canonical text of column ``quoted`` (NULL stays NULL), or None if not expressible."""
    if plan.family is F.SET:
        return list_text_sql(dialect, plan, side, quoted, element_sql=canonical_text_sql)
    if plan.family in _INSTANTS and not _zone_is_utc(plan, side):
        return None
    return _value_text(dialect, plan.family, _column(plan, side), quoted)


def _value_text(d: Dialect, family: TypeFamily, column: Column, q: str) -> str | None:
    own, data_type = column.family, column.data_type.lower()
    if not d.renders_canonically(data_type):
        return None
    if family is F.INTEGER:
        return d.integer_text(q, data_type) if own is F.INTEGER else None
    if family is F.DECIMAL:
        if own is F.INTEGER:
            return d.integer_text(q, data_type)
        return d.decimal_text(q) if own is F.DECIMAL else None
    if family is F.TEXT:
        return _text(d, own, data_type, q)
    if family is F.BOOLEAN:
        if own is F.BOOLEAN and not d.booleans_are_integers:
            return d.boolean_text(q)
        if own in (F.INTEGER, F.BOOLEAN):
            # Any other integer keeps its own text, marked: never 'true', 'false' nor NULL.
            flagged = d.concat("'?'", d.number_operand(q))
            return f"CASE WHEN {q} IS NULL THEN NULL WHEN {q} = 1 THEN 'true' WHEN {q} = 0 THEN 'false' ELSE {flagged} END"
        return None
    if family is F.DATE:
        return d.date_text(q) if own is F.DATE else None
    if family in _INSTANTS:
        if own not in (*_INSTANTS, F.DATE):
            return None
        return d.instant_text(
            q, data_type=data_type, family=own, infinite=str(INFINITE_INSTANT), zero=str(ZERO_INSTANT)
        )
    if family is F.BINARY:
        return d.hex_text(q) if own is F.BINARY else None
    if family is F.UUID:
        if own is F.UUID:
            return d.uuid_text(q)
        return d.uuid_from_text(q, ARROW_WHITE_SPACE) if own is F.TEXT else None
    return None


def _text(d: Dialect, own: TypeFamily, data_type: str, q: str) -> str | None:
    if own is F.TEXT:
        return d.unpadded_text(q) if data_type.startswith(CHAR_TYPES) else d.plain_text(q)
    if own is F.ENUM:
        return d.plain_text(q)
    if own is F.INTEGER:
        return d.integer_text(q, data_type)
    if own is F.DECIMAL:
        return d.decimal_as_text(q)
    if own is F.UUID:
        return d.text_cast(q)
    return None


# -- fields and hashes ---------------------------------------------------------------------
def field_sql(dialect: Dialect, text: str) -> str:
    """``<characters>:<text>``, or ``N`` for NULL."""
    length = dialect.number_operand(dialect.char_length(text))
    field = dialect.concat(length, "':'", text)
    return f"coalesce({field}, 'N')"


def hash60_sql(dialect: Dialect, fields: Sequence[str]) -> str:
    """A non-negative 60-bit BIGINT hash: the first 15 hex digits of the MD5 of the fields."""
    return dialect.md5_bigint60(dialect.concat(*fields) if fields else "''")


def row_hash_sql(
    dialect: Dialect,
    plans: Sequence[ColumnPlan],
    side: Side,
    quote: Callable[[str], str],
    *,
    native: bool = False,
) -> str | None:
    """The hash of the canonical texts of ``plans`` on ``side``; None if one is not expressible.

    ``native``: both sides are the same engine with identical column types, so the engine's own
    hash of the typed values is as good as a hash of their canonical texts (see native_hash_sql).
    """
    fields: list[str] = []
    columns: list[str] = []
    for plan in plans:
        quoted = quote(_column(plan, side).name)
        text = canonical_text_sql(dialect, plan, side, quoted)
        if text is None:
            return None
        fields.append(field_sql(dialect, text))
        columns.append(quoted)
    if native and dialect.has_native_row_hash:
        return native_hash_sql(dialect, columns, [_column(p, side).data_type for p in plans])
    return hash60_sql(dialect, fields)


def native_hash_sql(dialect: Dialect, expressions: Sequence[str], types: Sequence[str | None]) -> str:
    """A 60-bit hash of typed values with the engine's own hash functions (same-engine pairs only).

    ``types`` are the columns' declared types, None for a BIGINT expression. A row's hash must not
    be the XOR of one hash per column: bucket checksums XOR row hashes, and values of one column
    swapped between two rows of a bucket would then cancel out.
    """
    if not expressions:
        return "0"
    return dialect.native_row_hash(expressions, types, mask=MASK60)


def bucket_sql(dialect: Dialect, hash_sql: str, count: int, stride: int = 1) -> str:
    """Bucket number in [0, count) of a non-negative hash: ``(hash // stride) % count``.

    Partitions take ``hash % partitions``; buckets inside a partition take the quotient's bits
    (``stride`` = the partition count), else only the buckets congruent to the partition's
    index modulo gcd(count, partitions) would ever hold a row.
    """
    if int(stride) == 1:
        return f"({hash_sql}) % {int(count)}"
    return f"({dialect.int_div(f'({hash_sql})', int(stride))}) % {int(count)}"
