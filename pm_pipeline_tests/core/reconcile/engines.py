"""Write tiny tables into real engines from one engine-neutral description (test support only)."""

from __future__ import annotations

import datetime as dt
import decimal
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pm_pipeline.core.config.spec import Endpoint, TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import TableReconciliation
from pm_pipeline.core.reconcile import ReconcileOptions, reconcile_table

# Engine-neutral column kinds -> the type each engine declares for them.
KINDS: dict[str, dict[str, Any]] = {
    "int": {"pg": "integer", "my": "int", "duck": "integer", "sqlite": "integer", "parquet": pa.int64()},
    "bigint": {"pg": "bigint", "my": "bigint", "duck": "bigint", "sqlite": "integer", "parquet": pa.int64()},
    "text": {"pg": "text", "my": "varchar(200)", "duck": "varchar", "sqlite": "text", "parquet": pa.string()},
    "dec": {
        "pg": "numeric(12,4)",
        "my": "decimal(12,4)",
        "duck": "decimal(12,4)",
        "sqlite": "decimal(12,4)",
        "parquet": pa.decimal128(12, 4),
    },
    "float": {
        "pg": "double precision",
        "my": "double",
        "duck": "double",
        "sqlite": "double",
        "parquet": pa.float64(),
    },
    # naive wall-clock time (MySQL DATETIME)
    "ts": {
        "pg": "timestamp",
        "my": "datetime(6)",
        "duck": "timestamp",
        "sqlite": "timestamp",
        "parquet": pa.timestamp("us"),
    },
    # an instant (MySQL TIMESTAMP is stored in UTC); SQLite keeps ISO text with an offset
    "tstz": {
        "pg": "timestamptz",
        "my": "timestamp(6) NULL",
        "duck": "timestamptz",
        "sqlite": "timestamp",
        "parquet": pa.timestamp("us", tz="UTC"),
    },
    "bool": {
        "pg": "boolean",
        "my": "tinyint(1)",
        "duck": "boolean",
        "sqlite": "boolean",
        "parquet": pa.bool_(),
    },
    # a MySQL SET, or the array / list it becomes
    "tags": {
        "pg": "text[]",
        "my": "set('a','b','c','d e')",
        "duck": "varchar[]",
        "parquet": pa.list_(pa.string()),
    },
    "ints": {"pg": "integer[]", "duck": "integer[]", "parquet": pa.list_(pa.int64())},
}


@dataclass(frozen=True)
class Col:
    name: str
    kind: str


class Side:
    """One engine holding tables for one side of a pair."""

    engine = ""

    @property
    def url(self) -> str:
        raise NotImplementedError

    def create(
        self, table: str, columns: Sequence[Col], rows: Sequence[Sequence[Any]], *, key: Sequence[str] = ()
    ) -> None:
        raise NotImplementedError

    def ddl(self, table: str, columns: Sequence[Col], key: Sequence[str], quote: str = '"') -> str:
        parts = [f"{quote}{c.name}{quote} {KINDS[c.kind][self.engine]}" for c in columns]
        if key:
            parts.append("PRIMARY KEY (" + ", ".join(f"{quote}{k}{quote}" for k in key) + ")")
        return f"CREATE TABLE {quote}{table}{quote} ({', '.join(parts)})"


class PgSide(Side):
    engine = "pg"

    def __init__(self, url: str) -> None:
        self._url = url

    @property
    def url(self) -> str:
        return self._url

    def create(
        self, table: str, columns: Sequence[Col], rows: Sequence[Sequence[Any]], *, key: Sequence[str] = ()
    ) -> None:
        import psycopg

        with psycopg.connect(self._url, autocommit=True) as conn:
            conn.execute(self.ddl(table, columns, key))  # type: ignore[arg-type]
            marks = ", ".join(["%s"] * len(columns))
            with conn.cursor() as cur:
                cur.executemany(f'INSERT INTO "{table}" VALUES ({marks})', [list(r) for r in rows])  # type: ignore[arg-type]


class MySide(Side):
    engine = "my"

    def __init__(self, url: str) -> None:
        self._url = url

    @property
    def url(self) -> str:
        return self._url

    def create(
        self, table: str, columns: Sequence[Col], rows: Sequence[Sequence[Any]], *, key: Sequence[str] = ()
    ) -> None:
        import pymysql

        parts = urlsplit(self._url)
        conn = pymysql.connect(
            host=parts.hostname,
            port=parts.port,
            user="root",
            password="",
            database=parts.path.lstrip("/"),
            autocommit=True,
            charset="utf8mb4",
        )
        try:
            with conn.cursor() as cur:
                # Zero dates ('0000-00-00') are only accepted without the strict modes.
                cur.execute("SET time_zone = '+00:00', sql_mode = ''")
                cur.execute(self.ddl(table, columns, key, quote="`"))
                marks = ", ".join(["%s"] * len(columns))
                cur.executemany(
                    f"INSERT INTO `{table}` VALUES ({marks})", [[_my_value(v) for v in r] for r in rows]
                )
        finally:
            conn.close()


def _my_value(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)  # the session is in UTC
    return value


class DuckSide(Side):
    engine = "duck"

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def url(self) -> str:
        return f"duckdb:///{self.path}"

    def create(
        self, table: str, columns: Sequence[Col], rows: Sequence[Sequence[Any]], *, key: Sequence[str] = ()
    ) -> None:
        with duckdb.connect(str(self.path)) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            conn.execute(self.ddl(table, columns, key))
            if rows:
                marks = ", ".join(["?"] * len(columns))
                conn.executemany(f'INSERT INTO "{table}" VALUES ({marks})', [list(r) for r in rows])


class SqliteSide(Side):
    engine = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def create(
        self, table: str, columns: Sequence[Col], rows: Sequence[Sequence[Any]], *, key: Sequence[str] = ()
    ) -> None:
        conn = sqlite3.connect(self.path)
        try:
            conn.execute(self.ddl(table, columns, key))
            marks = ", ".join(["?"] * len(columns))
            conn.executemany(
                f'INSERT INTO "{table}" VALUES ({marks})', [[_sqlite_value(v) for v in r] for r in rows]
            )
            conn.commit()
        finally:
            conn.close()


def _sqlite_value(value: Any) -> Any:
    # What a legacy application writes into SQLite: ISO text for times, exact text for decimals.
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bool):
        return int(value)
    return value


class ParquetSide(Side):
    engine = "parquet"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"parquet:///{self.folder}"

    def create(
        self, table: str, columns: Sequence[Col], rows: Sequence[Sequence[Any]], *, key: Sequence[str] = ()
    ) -> None:
        arrays = {
            c.name: pa.array([r[i] for r in rows], KINDS[c.kind]["parquet"]) for i, c in enumerate(columns)
        }
        pq.write_table(pa.table(arrays), self.folder / f"{table}.parquet")


@dataclass(frozen=True)
class Pair:
    name: str
    source: Side
    target: Side

    def reconcile(
        self,
        mapping: TableMapping,
        *,
        source_zone: str | None = None,
        target_zone: str | None = None,
        options: ReconcileOptions | None = None,
    ) -> TableReconciliation:
        with connect(self.source.url) as source, connect(self.target.url) as target:
            return reconcile_table(
                source=source,
                target=target,
                mapping=mapping,
                source_endpoint=Endpoint(url=self.source.url, timezone=source_zone),
                target_endpoint=Endpoint(url=self.target.url, timezone=target_zone),
                options=options,
            )
