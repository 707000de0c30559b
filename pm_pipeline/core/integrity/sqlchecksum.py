"""Table checksums computed inside the database: canonical row text ``pm-row-sql-1``.

The row text is what pushed-down reconciliation hashes (:mod:`pm_pipeline.core.reconcile.sqlhash`),
the same in PostgreSQL, MariaDB/MySQL and DuckDB for equal canonical values: each column's
canonical text as a field ``<characters>:<text>`` (``N`` for NULL), the fields concatenated in the
manifest's column order. Row digest = SHA-256 of its UTF-8 bytes, read as a big-endian 256-bit
integer; table checksum = the sum of the digests modulo 2**256, as 64 hex digits (the algorithm of
``pm-row-json-1``, over another row text). The database sums the digest's eight 32-bit limbs
exactly (PostgreSQL numeric, MariaDB DECIMAL, DuckDB HUGEINT); only nine numbers cross the wire.

A column an engine cannot render canonically in SQL (SQLite, JSON, MariaDB text lists, naive
timestamps read in a zone other than UTC) leaves ``pm-row-sql-1`` out for the table: it is then
checksummed over Arrow batches in ``pm-row-json-1`` (:mod:`.checksum`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pm_pipeline.core.canonical import ColumnPlan
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.reconcile.sqlhash import Dialect, canonical_text_sql, dialect_of, field_sql

CANONICALIZATION_SQL = "pm-row-sql-1"
_MOD = 2**256
_LIMBS = 8


def row_text_sql(connector: Connector, plans: Sequence[ColumnPlan], side: str) -> str | None:
    """The SQL of each row's ``pm-row-sql-1`` text on ``side``, or None where the engine cannot."""
    dialect = dialect_of(connector.engine)
    if dialect is None or not plans:
        return None
    fields: list[str] = []
    for plan in plans:
        column = plan.source if side == "source" else plan.target
        text = canonical_text_sql(
            dialect, plan, "source" if side == "source" else "target", connector.quote(column.name)
        )
        if text is None:
            return None
        fields.append(field_sql(dialect, text))
    return f"CONCAT({', '.join(fields)})" if dialect == "mysql" else " || ".join(fields)


def _digest_and_limbs(dialect: Dialect, text: str) -> tuple[str, list[str]]:
    """(the row digest as 64 hex digits, the eight 32-bit limbs of a digest column ``h``)."""
    if dialect == "postgresql":
        digest = f"encode(sha256(convert_to({text}, 'UTF8')), 'hex')"
        return digest, [f"('x' || substr(h, {1 + 8 * i}, 8))::bit(32)::bigint" for i in range(_LIMBS)]
    if dialect == "mysql":
        digest = f"SHA2(CONVERT({text} USING utf8mb4), 256)"
        return digest, [f"CAST(CONV(SUBSTR(h, {1 + 8 * i}, 8), 16, 10) AS UNSIGNED)" for i in range(_LIMBS)]
    digest = f"sha256({text})"
    return digest, [f"CAST('0x' || substr(h, {1 + 8 * i}, 8) AS BIGINT)" for i in range(_LIMBS)]


def sql_checksum(
    connector: Connector, table: str, plans: Sequence[ColumnPlan], side: str
) -> tuple[int, str] | None:
    """(rows, checksum) of ``table`` in ``pm-row-sql-1``, computed by the database; None where the
    engine cannot write every column's canonical text."""
    text = row_text_sql(connector, plans, side)
    dialect = dialect_of(connector.engine)
    if text is None or dialect is None:
        return None
    digest, limbs = _digest_and_limbs(dialect, text)
    sums = ", ".join(f"SUM({limb})" for limb in limbs)
    inner = f"SELECT {digest} AS h FROM {connector.qualified(table)}"
    row = connector.execute(f"SELECT COUNT(*), {sums} FROM ({inner}) {connector.quote('digests')}")[0]
    total = 0
    for limb in row[1:]:
        total = (total << 32) + int(limb or 0)
    return int(row[0]), f"{total % _MOD:064x}"
