"""Row and key hashes that the databases compute themselves, equal across engines.

Every pushed-down column becomes its canonical text (the text form of the canonical value of
``pm_pipeline.core.canonical.values``), written in the engine's SQL dialect:

    INTEGER, TIMESTAMP(TZ) -> decimal digits (timestamps as microseconds since the epoch, UTC)
    DECIMAL -> normalised decimal text    BOOLEAN -> 'true' / 'false'     DATE -> 'YYYY-MM-DD'
    TEXT, ENUM -> the text (CHAR padding removed)   BINARY -> lower-case hex   UUID -> lower-case
    SET (sets, arrays, lists) -> the JSON array of element texts (``sqllists``)

A field is ``<characters>:<text>`` or ``N`` for NULL, so a row's concatenated fields are
unambiguous. The row hash is the first 60 bits of the MD5 of that text, as a non-negative
BIGINT, identical in PostgreSQL, MariaDB/MySQL and DuckDB; sums of row hashes never overflow.
Same-engine pairs with identical column types may hash the typed values with the engine's own
hash functions instead (``native_hash_sql``).

A column that an engine cannot render canonically in SQL (JSON, MariaDB text lists, declared value rules,
naive timestamps in a non-UTC zone, floats) is not pushed down: it is read as is and compared
on the Arrow side, so pushdown never changes an answer. Engines without a hash function
(SQLite) hash on our side: :func:`local_hashes` computes the same hash from canonical Arrow
values with DuckDB, the reference every dialect is tested against.

The SQL text follows what the reader hands to canonicalisation, quirks included: dates before
year 1 as Arrow writes them ('0000-01-01', '-0043-03-15'), ±infinity as canonical values
(instants ±(2^63 - 1), dates 'infinity' / '-infinity', in PostgreSQL and DuckDB), MariaDB's year 0 (which it counts as a common year) corrected,
YEAR as the number the driver reads, a MariaDB zero date as itself (never NULL: a row holding
one hashes apart and is compared cell by cell, where the zero_date rule applies). A few values
have no faithful reference, because the reader cannot hand them over; their text is one no other
value has, so a row holding one hashes as different and the comparison of the fetched rows
settles it (never a false match):

    PostgreSQL dates after year 32767         their own text (Arrow's strftime wraps the year)
    MariaDB partly zero dates and times       '?' + the value ('?2024-00-10 10:00:00')
    PostgreSQL UUIDs held as text             trimmed of ASCII white space only (other encodings
                                              than UTF-8 cannot spell the rest)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import duckdb
import pyarrow as pa

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.canonical.values import INFINITE_INSTANT, Side
from pm_pipeline.core.connectors.schema import Column, TypeFamily
from pm_pipeline.core.reconcile.sqllists import list_text_sql

F = TypeFamily
Dialect = Literal["postgresql", "mysql", "duckdb"]
DIALECTS: dict[str, Dialect] = {
    "postgresql": "postgresql",
    "mysql": "mysql",
    "duckdb": "duckdb",
    "files": "duckdb",
}
ZERO_INSTANT_TEXT = str(-(2**63))
_INF = str(INFINITE_INSTANT)
_CHAR_TYPES = ("char(", "character(", "bpchar", "nchar(")
_UTC = ("UTC", "Etc/UTC")
# The white space Arrow's utf8_trim_whitespace removes (UUIDs held as text are trimmed of it).
_SPACES = (*range(0x09, 0x0E), *range(0x1C, 0x21), 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029)
_SPACES += (0x202F, 0x205F, 0x3000)
# PostgreSQL: only the ASCII ones, which every server encoding can spell (LATIN1 has no U+1680).
_PG_SPACES = "E'" + "".join(f"\\x{c:02x}" for c in _SPACES if c < 0x80) + "'"
# The characters themselves, not escapes: a server in NO_BACKSLASH_ESCAPES mode keeps backslashes.
_MY_CLASS = "[" + "".join(chr(c) for c in _SPACES) + "]"
_MY_SPACES = f"'^{_MY_CLASS}+|{_MY_CLASS}+$'"
_DUCK_SPACES = "(" + " || ".join(f"chr({c})" for c in _SPACES) + ")"


def dialect_of(engine: str) -> Dialect | None:
    """The SQL dialect that can hash rows of this engine, or None (hash on our side)."""
    return DIALECTS.get(engine)


def _column(plan: ColumnPlan, side: Side) -> Column:
    return plan.source if side == "source" else plan.target


def _zone_is_utc(plan: ColumnPlan, side: Side) -> bool:
    rule_zone = plan.rule.source_timezone if side == "source" else plan.rule.target_timezone
    if rule_zone is not None:
        return False
    column = _column(plan, side)
    zone = plan.source_zone if side == "source" else plan.target_zone
    return column.family is F.TIMESTAMPTZ or zone in _UTC


def pushable(plan: ColumnPlan) -> bool:
    """Whether a value column's canonical form is plain enough for SQL at all (rules aside)."""
    return not (plan.tolerant or plan.has_value_rules)


# -- canonical text per dialect ------------------------------------------------------------
def _pg(plan: ColumnPlan, column: Column, q: str) -> str | None:
    own, family = column.family, plan.family
    text = {
        F.INTEGER: f"{q}::text",
        F.DECIMAL: f"trim_scale({q})::text",
        F.TEXT: f"rtrim({q}::text, ' ')"
        if column.data_type.lower().startswith(_CHAR_TYPES)
        else f"{q}::text",
        F.ENUM: f"{q}::text",
        F.UUID: f"{q}::text",
    }
    if family is F.TEXT and own is F.DECIMAL:
        return f"{q}::text"  # read as its text rendering, scale kept
    if family in (F.INTEGER, F.DECIMAL, F.TEXT):
        return _numeric_or_text(family, own, text)
    if family is F.BOOLEAN:
        if own is F.BOOLEAN:
            return f"CASE WHEN {q} IS NULL THEN NULL WHEN {q} THEN 'true' ELSE 'false' END"
        if own is F.INTEGER:
            return _int_bool(q, f"'?' || {q}::text")
        return None
    if family is F.DATE and own is F.DATE:
        return _pg_date(q)
    if family in (F.TIMESTAMP, F.TIMESTAMPTZ) and own in (F.TIMESTAMP, F.TIMESTAMPTZ, F.DATE):
        value = f"{q}::timestamp" if own is F.DATE else q
        micros = f"(extract(epoch FROM {value}) * 1000000)::bigint::text"
        return f"CASE WHEN isfinite({q}) THEN {micros} WHEN {q} > 'epoch' THEN '{_INF}' WHEN {q} < 'epoch' THEN '-{_INF}' END"
    if family is F.BINARY and own is F.BINARY:
        return f"encode({q}, 'hex')"
    if family is F.UUID:
        return (
            f"{q}::text" if own is F.UUID else (f"lower(btrim({q}, {_PG_SPACES}))" if own is F.TEXT else None)
        )
    return None


def _pg_date(q: str) -> str:
    # to_char writes 44 BC as '0044' (no year 0) and ±infinity as NULL; Arrow writes '-0043'.
    bc_year = f"to_char(-1 - extract(year FROM {q})::int, 'FM0000')"
    return (
        f"CASE WHEN NOT isfinite({q}) THEN {q}::text"
        f" WHEN {q} >= DATE '0001-01-01' THEN to_char({q}, 'YYYY-MM-DD')"
        f" WHEN {q} >= DATE '0001-01-01 BC' THEN to_char({q}, '\"0000\"-MM-DD')"
        f" ELSE '-' || {bc_year} || to_char({q}, '-MM-DD') END"
    )


def _mysql_decimal(q: str) -> str:
    s = f"CAST({q} AS CHAR)"
    trimmed = f"IF(LOCATE('.', {s}) > 0, TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM {s})), {s})"
    return f"IF({trimmed} = '-0', '0', {trimmed})"


def _mysql_instant(q: str) -> str:
    # MariaDB counts year 0 as a common year: its January and February come out one day late.
    micros = (
        f"TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {q}) - IF({q} < '0000-03-01', 86400000000, 0)"
    )
    # NULL for a zero date and for a partly zero one ('2024-00-10'), which no reader parses:
    # the latter keeps its own text, never equal to an instant's digits nor to NULL.
    text = f"CAST({q} AS CHAR)"
    other = f"IF({text} LIKE '0000-00-00%', '{ZERO_INSTANT_TEXT}', CONCAT('?', {text}))"
    return f"COALESCE(CAST({micros} AS CHAR), {other})"


def _my(plan: ColumnPlan, column: Column, q: str) -> str | None:
    own, family = column.family, plan.family
    data_type = column.data_type.lower()
    if data_type.startswith("bit"):
        return None
    text = {
        # YEAR renders as 4 digits ('0000'); the driver reads it as a number (0).
        F.INTEGER: f"CAST({q} + 0 AS CHAR)" if data_type.startswith("year") else f"CAST({q} AS CHAR)",
        F.DECIMAL: _mysql_decimal(q),
        F.TEXT: f"RTRIM(CONVERT({q} USING utf8mb4))"
        if data_type.startswith(_CHAR_TYPES)
        else f"CONVERT({q} USING utf8mb4)",
        F.ENUM: f"CONVERT({q} USING utf8mb4)",
        F.UUID: f"CAST({q} AS CHAR)",
    }
    if family is F.TEXT and own is F.DECIMAL:
        return f"CAST({q} AS CHAR)"  # read as its text rendering, scale kept
    if family in (F.INTEGER, F.DECIMAL, F.TEXT):
        return _numeric_or_text(family, own, text)
    if family is F.BOOLEAN:
        return _int_bool(q, f"CONCAT('?', {q})") if own in (F.INTEGER, F.BOOLEAN) else None
    if family is F.DATE and own is F.DATE:
        return f"DATE_FORMAT({q}, '%Y-%m-%d')"
    if family in (F.TIMESTAMP, F.TIMESTAMPTZ) and own in (F.TIMESTAMP, F.TIMESTAMPTZ, F.DATE):
        return _mysql_instant(q)
    if family is F.BINARY and own is F.BINARY:
        return f"LOWER(HEX({q}))"
    if family is F.UUID:
        if own is F.UUID:
            return f"LOWER(CAST({q} AS CHAR))"
        return (
            f"LOWER(REGEXP_REPLACE(CONVERT({q} USING utf8mb4), {_MY_SPACES}, ''))" if own is F.TEXT else None
        )
    return None


def _duck_decimal(q: str) -> str:
    s = f"CAST({q} AS VARCHAR)"
    trimmed = f"CASE WHEN contains({s}, '.') THEN rtrim(rtrim({s}, '0'), '.') ELSE {s} END"
    return f"CASE WHEN {trimmed} = '-0' THEN '0' ELSE {trimmed} END"


def _duck(plan: ColumnPlan, column: Column, q: str) -> str | None:
    own, family = column.family, plan.family
    text = {
        F.INTEGER: f"CAST({q} AS VARCHAR)",
        F.DECIMAL: _duck_decimal(q),
        F.TEXT: f"CAST({q} AS VARCHAR)",
        F.ENUM: f"CAST({q} AS VARCHAR)",
        F.UUID: f"CAST({q} AS VARCHAR)",
    }
    if family in (F.INTEGER, F.DECIMAL, F.TEXT):
        return _numeric_or_text(family, own, text)
    if family is F.BOOLEAN:
        if own is F.BOOLEAN:
            return f"CASE WHEN {q} IS NULL THEN NULL WHEN {q} THEN 'true' ELSE 'false' END"
        return _int_bool(q, f"'?' || CAST({q} AS VARCHAR)") if own is F.INTEGER else None
    if family is F.DATE and own is F.DATE:
        return _duck_date(q)
    if family in (F.TIMESTAMP, F.TIMESTAMPTZ) and own in (F.TIMESTAMP, F.TIMESTAMPTZ, F.DATE):
        if "_ns" in column.data_type.lower():
            return None
        # Naive seconds/milliseconds are widened first: DuckDB 2.0.1's epoch_us refuses them before 1677.
        value = f"CAST({q} AS TIMESTAMP)" if own in (F.DATE, F.TIMESTAMP) else q
        return _duck_instant(value)
    if family is F.BINARY and own is F.BINARY:
        return f"lower(hex({q}))"
    if family is F.UUID:
        if own is F.UUID:
            return f"CAST({q} AS VARCHAR)"
        return f"lower(trim({q}, {_DUCK_SPACES}))" if own is F.TEXT else None
    return None


def _duck_date(q: str) -> str:
    # Arrow writes a year before 1 (astronomical numbering) as '-0043'; strftime as '-43'.
    before = f"printf('-%04d', -year({q})) || strftime({q}, '-%m-%d')"
    return (
        f"CASE WHEN {q} >= DATE '0000-01-01' OR isinf({q}) THEN strftime({q}, '%Y-%m-%d') ELSE {before} END"
    )


def _duck_instant(value: str) -> str:
    # epoch_us(±infinity) is NULL; canonical infinities are ±(2^63 - 1), as Arrow receives them.
    infinite = f"CASE WHEN {value} > TIMESTAMP 'epoch' THEN '{_INF}' ELSE '-{_INF}' END"
    return f"CASE WHEN isinf({value}) THEN {infinite} ELSE CAST(epoch_us({value}) AS VARCHAR) END"


def _numeric_or_text(family: TypeFamily, own: TypeFamily, text: dict[TypeFamily, str]) -> str | None:
    if family is F.INTEGER:
        return text[F.INTEGER] if own is F.INTEGER else None
    if family is F.DECIMAL:
        return text.get(own) if own in (F.INTEGER, F.DECIMAL) else None
    return text.get(own)


def _int_bool(q: str, other: str) -> str:
    return (
        f"CASE WHEN {q} IS NULL THEN NULL WHEN {q} = 1 THEN 'true' WHEN {q} = 0 THEN 'false' ELSE {other} END"
    )


_TEXT: dict[Dialect, Callable[[ColumnPlan, Column, str], str | None]] = {
    "postgresql": _pg,
    "mysql": _my,
    "duckdb": _duck,
}


def canonical_text_sql(dialect: Dialect, plan: ColumnPlan, side: Side, quoted: str) -> str | None:
    """SQL giving the canonical text of column ``quoted`` (NULL stays NULL), or None if not expressible."""
    column = _column(plan, side)
    if plan.family is F.SET:
        return list_text_sql(dialect, plan, side, quoted, element_sql=canonical_text_sql)
    if plan.family in (F.TIMESTAMP, F.TIMESTAMPTZ) and not _zone_is_utc(plan, side):
        return None
    return _TEXT[dialect](plan, column, quoted)


# -- fields and hashes ---------------------------------------------------------------------
def field_sql(dialect: Dialect, text: str) -> str:
    """``<characters>:<text>``, or ``N`` for NULL."""
    if dialect == "mysql":
        return f"COALESCE(CONCAT(CHAR_LENGTH({text}), ':', {text}), 'N')"
    if dialect == "postgresql":
        return f"coalesce(char_length({text}) || ':' || {text}, 'N')"
    return f"coalesce(CAST(length({text}) AS VARCHAR) || ':' || {text}, 'N')"


_MASK60 = (1 << 60) - 1


def hash60_sql(dialect: Dialect, fields: Sequence[str]) -> str:
    """A non-negative 60-bit BIGINT hash: the first 15 hex digits of the MD5 of the fields."""
    if dialect == "mysql":
        text = f"CONCAT({', '.join(fields)})" if fields else "''"
        return f"CAST(CONV(LEFT(MD5(CONVERT({text} USING utf8mb4)), 15), 16, 10) AS SIGNED)"
    text = " || ".join(fields) if fields else "''"
    if dialect == "postgresql":
        return f"('x' || left(md5({text}), 15))::bit(60)::bigint"
    return f"CAST('0x' || left(md5({text}), 15) AS BIGINT)"


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
    if native and dialect != "mysql":
        return native_hash_sql(dialect, columns, [_column(p, side).data_type for p in plans])
    return hash60_sql(dialect, fields)


def native_hash_sql(dialect: Dialect, expressions: Sequence[str], types: Sequence[str | None]) -> str:
    """A 60-bit hash of typed values with the engine's own hash functions (same-engine pairs only).

    PostgreSQL: each value's type-specific extended hash, seeded by its position (a NULL
    contributes the seed itself), chained: each step hashes the previous result XOR the next
    value's hash. ``types`` are the columns' declared types, None for a BIGINT expression.
    DuckDB: ``hash()`` of all values, hashed once more. No text is built, which makes a scan
    cheaper than one ``hashtext(row::text)`` pass.

    A row's hash must not be the XOR of one hash per column: bucket checksums XOR row hashes,
    and values of one column swapped between two rows of a bucket would then cancel out.
    DuckDB's ``hash(a, b)`` is such a combination (``f(hash(a)) XOR hash(b)``): the outer
    ``hash()`` mixes it.
    """
    if not expressions:
        return "0"
    if dialect == "duckdb":
        combined = f"hash({', '.join(expressions)})"
        if len(expressions) > 1:
            combined = f"hash({combined})"
        return f"CAST({combined} & {_MASK60} AS BIGINT)"
    if dialect != "postgresql":
        raise ValueError(f"no native row hash in {dialect}")
    parts = [
        f"coalesce({_pg_value_hash(expression, data_type, seed)}, {seed})"
        for seed, (expression, data_type) in enumerate(zip(expressions, types, strict=True), start=1)
    ]
    chained = parts[0]
    for seed, part in enumerate(parts[1:], start=2):
        chained = f"hashint8extended({chained} # {part}, {seed})"
    return f"({chained} & {_MASK60})"


def _pg_value_hash(expression: str, data_type: str | None, seed: int) -> str:
    kind = (data_type or "bigint").lower()
    if kind.endswith("]"):  # an array: its text, not its element type's hash
        return f"hashtextextended(({expression})::text, {seed})"
    if kind in ("smallint", "integer", "bigint", "int2", "int4", "int8"):
        return f"hashint8extended(({expression})::int8, {seed})"
    if kind.startswith(("numeric", "decimal")):
        return f"hash_numeric_extended({expression}, {seed})"
    if kind.startswith("timestamp"):
        # With time zone: read in the session's UTC, the same instant gives the same wall time.
        return f"timestamp_hash_extended(({expression})::timestamp, {seed})"
    if kind == "date":
        # Days since 2000 (the date's own integer); ±infinity have no difference, only a text.
        return (
            f"CASE WHEN isfinite({expression}) THEN hashint4extended({expression} - DATE '2000-01-01', {seed})"
            f" ELSE hashtextextended(({expression})::text, {seed}) END"
        )
    if kind == "boolean":
        return f"hashint4extended(({expression})::int4, {seed})"
    if kind == "uuid":
        return f"uuid_hash_extended({expression}, {seed})"
    return f"hashtextextended(({expression})::text, {seed})"


def bucket_sql(dialect: Dialect, hash_sql: str, count: int, stride: int = 1) -> str:
    """Bucket number in [0, count) of a non-negative hash: ``(hash // stride) % count``.

    Partitions take ``hash % partitions``; buckets inside a partition take the quotient's bits
    (``stride`` = the partition count), else only the buckets congruent to the partition's
    index modulo gcd(count, partitions) would ever hold a row.
    """
    if int(stride) == 1:
        return f"({hash_sql}) % {int(count)}"
    divide = {"postgresql": "/", "mysql": "DIV", "duckdb": "//"}[dialect]
    return f"(({hash_sql}) {divide} {int(stride)}) % {int(count)}"


# -- the reference: the same hash from canonical Arrow values ------------------------------
def _reference_text(name: str, family: TypeFamily) -> str:
    if family in (F.INTEGER, F.TIMESTAMP, F.TIMESTAMPTZ, F.TIME):
        return f"CAST({name} AS VARCHAR)"
    if family is F.BINARY:
        return f"lower(hex({name}))"
    return name


def local_hashes(
    connection: duckdb.DuckDBPyConnection,
    canonical: Sequence[pa.Array],
    families: Sequence[TypeFamily],
    *,
    rows: int,
    bucket_count: int | None = None,
    bucket_stride: int = 1,
) -> pa.Array:
    """Row hashes (or their bucket numbers) of canonical columns, equal to what the dialects compute."""
    names = [f"c{i}" for i in range(len(canonical))]
    fields = [field_sql("duckdb", _reference_text(n, f)) for n, f in zip(names, families, strict=True)]
    expression = hash60_sql("duckdb", fields)
    if bucket_count is not None:
        expression = bucket_sql("duckdb", expression, bucket_count, bucket_stride)
    if not canonical:
        table = pa.table({"_": pa.nulls(rows, pa.int8())})
    else:
        table = pa.table(dict(zip(names, canonical, strict=True)))
    cursor = connection.cursor()
    try:
        cursor.register("canonical_rows", table)
        result = cursor.sql(f"SELECT {expression} AS h FROM canonical_rows").to_arrow_table()
        cursor.unregister("canonical_rows")
    finally:
        cursor.close()
    assert result is not None
    return result.column("h").combine_chunks().cast(pa.int64())
