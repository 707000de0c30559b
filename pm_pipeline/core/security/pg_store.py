"""The audit log kept in PostgreSQL as well: the head in pm_audit_anchors, every record in pm_audit_records.

For teams that run the Dagster instance on PostgreSQL: the database the instance already trusts
holds a copy of every record, written after the record reaches the file. Verification then
compares the file with the copy record by record, so an edited, removed or added record is named
even in a chain written without a key, and a lost file can be restored from the table
(``SELECT record FROM pm_audit_records WHERE chain = ... ORDER BY seq``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pm_pipeline.core.dialects.postgres import PostgresDialect
from pm_pipeline.core.errors import SystemFailure
from pm_pipeline.core.security.anchors import Anchor

ANCHOR_TABLE = "pm_audit_anchors"
RECORD_TABLE = "pm_audit_records"
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {ANCHOR_TABLE} (chain text PRIMARY KEY, log text NOT NULL, "
    "seq bigint NOT NULL, head text NOT NULL, anchored_at timestamptz NOT NULL DEFAULT now())",
    f"CREATE TABLE IF NOT EXISTS {RECORD_TABLE} (chain text NOT NULL, seq bigint NOT NULL, "
    "hash text NOT NULL, record jsonb NOT NULL, PRIMARY KEY (chain, seq))",
)


class PostgresStore:
    """The head (one row per chain) and a copy of every record, in tables created on first use."""

    kind = PostgresDialect.name

    def __init__(self, url: str, *, log: Path) -> None:
        self.url = url
        self.log = log

    def describe(self) -> str:
        from pm_pipeline.core.security.masking import mask_url

        return f"anchor table {ANCHOR_TABLE} at {mask_url(self.url)}"

    def _connect(self) -> Any:
        import psycopg

        conninfo = re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql://", self.url)
        try:
            return psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise SystemFailure(f"{self.describe()}: cannot connect ({type(exc).__name__})") from None

    def write(self, *, chain: str, seq: int, head: str, record: Mapping[str, Any] | None = None) -> None:
        import psycopg

        with self._connect() as conn, conn.transaction():
            try:
                for statement in _SCHEMA:
                    conn.execute(statement)
                if record is not None:
                    # Never overwritten: a second record at a sequence number is the file's rewrite,
                    # which verification then names.
                    conn.execute(
                        f"INSERT INTO {RECORD_TABLE} (chain, seq, hash, record) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (chain, seq) DO NOTHING",
                        (chain, seq, head, json.dumps(dict(record), sort_keys=True, default=str)),
                    )
                conn.execute(
                    f"INSERT INTO {ANCHOR_TABLE} (chain, log, seq, head) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (chain) DO UPDATE SET log = EXCLUDED.log, seq = EXCLUDED.seq, "
                    "head = EXCLUDED.head, anchored_at = now()",
                    (chain, str(self.log), seq, head),
                )
            except psycopg.Error as exc:
                raise SystemFailure(
                    f"{self.describe()}: record {seq} of {self.log} was written but not anchored "
                    f"({type(exc).__name__}: {exc})"
                ) from None

    def _query(self, sql: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]] | None:
        import psycopg

        with self._connect() as conn:
            try:
                return list(conn.execute(sql, parameters).fetchall())
            except psycopg.errors.UndefinedTable:
                return None
            except psycopg.Error as exc:
                raise SystemFailure(f"{self.describe()}: cannot be read ({type(exc).__name__})") from None

    def read(self, *, chain: str | None) -> Anchor | None:
        if chain is None:
            return None
        rows = self._query(f"SELECT chain, seq, head FROM {ANCHOR_TABLE} WHERE chain = %s", (chain,))
        return Anchor(str(rows[0][0]), int(rows[0][1]), str(rows[0][2])) if rows else None

    def first_difference(self, *, chain: str, hashes: Sequence[str]) -> str | None:
        rows = self._query(f"SELECT seq, hash FROM {RECORD_TABLE} WHERE chain = %s ORDER BY seq", (chain,))
        if not rows:
            return None  # anchored before records were copied: the head comparison stands alone
        kept = {int(seq): str(digest) for seq, digest in rows}
        for seq in sorted(set(kept) | set(range(len(hashes)))):
            if seq >= len(hashes):
                return f"record {seq} is in the copy kept in {RECORD_TABLE} but not in the log: removed"
            if seq in kept and kept[seq] != hashes[seq]:
                return (
                    f"record {seq} differs from the copy kept in {RECORD_TABLE}: edited, replaced or rebuilt"
                )
        return None
