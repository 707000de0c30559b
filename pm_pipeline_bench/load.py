"""Load a generated data set into PostgreSQL (COPY), MariaDB (LOAD DATA LOCAL INFILE) and DuckDB files.

Each loaded ``orders`` table carries the data set's fingerprint as its table comment, written
only after its row count was checked against the Parquet file, so a later run with
``--keep-data`` reuses a database only when it holds exactly the same data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import psycopg
import pyarrow.parquet as pq
import pymysql
from psycopg import sql

from pm_pipeline.core.connectors import parse_url
from pm_pipeline.core.errors import SystemFailure
from pm_pipeline.core.security.masking import mask_url
from pm_pipeline_bench.generate import COLUMNS, TABLE

_TYPES = {
    "postgresql": (
        "bigint", "integer", "integer", "numeric(12,2)", "double precision", "varchar(16)",
        "varchar(64)", "timestamp", "timestamp", "boolean",
    ),
    "mysql": (
        "BIGINT", "INT", "INT", "DECIMAL(12,2)", "DOUBLE", "VARCHAR(16)",
        "VARCHAR(64)", "DATETIME", "DATETIME", "BOOLEAN",
    ),
    "duckdb": (
        "BIGINT", "INTEGER", "INTEGER", "DECIMAL(12,2)", "DOUBLE", "VARCHAR",
        "VARCHAR", "TIMESTAMP", "TIMESTAMP", "BOOLEAN",
    ),
}  # fmt: skip


def create_table_sql(engine: str, *, primary_key: bool) -> str:
    columns = [
        f"{name} {kind}" + ("" if name == "note" else " NOT NULL")
        for name, kind in zip(COLUMNS, _TYPES[engine], strict=True)
    ]
    if primary_key:
        columns.append("PRIMARY KEY (id)")
    suffix = " ENGINE=InnoDB" if engine == "mysql" else ""
    return f"CREATE TABLE {TABLE} ({', '.join(columns)}){suffix}"


@dataclass(frozen=True)
class Server:
    """A database server reached as ``scheme://user[:password]@host:port``."""

    scheme: str
    host: str
    port: int
    user: str
    password: str

    @classmethod
    def parse(cls, url: str, *, default_port: int) -> Server:
        """Raises BadInputError for a malformed URL, ValueError without a user or a host."""
        parts = parse_url(url)
        if not parts.host or not parts.user:
            raise ValueError(f"server URL {mask_url(url)} needs a user and a host (scheme://user@host:port)")
        return cls(
            scheme=parts.scheme,
            host=parts.host,
            port=parts.port or default_port,
            user=parts.user,
            password=parts.password or "",
        )

    def url(self, database: str) -> str:
        secret = f":{quote(self.password, safe='')}" if self.password else ""
        user = quote(self.user, safe="")
        return f"{self.scheme}://{user}{secret}@{self.host}:{self.port}/{quote(database, safe='')}"


def _check_count(loaded: int, parquet: Path, where: str) -> None:
    expected = pq.ParquetFile(parquet).metadata.num_rows
    if loaded != expected:
        raise SystemFailure(
            f"loading {where} left {loaded:,} rows in {TABLE}, but {parquet} holds {expected:,}; "
            "its fingerprint was not written (delete the data directory and run again)"
        )


def _pg_connect(
    server: Server, database: str, *, autocommit: bool = False
) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password or None,
        dbname=database,
        autocommit=autocommit,
    )


def _my_connect(
    server: Server, database: str | None = None
) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
    return pymysql.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
        database=database,
        autocommit=True,
        local_infile=True,
    )


def postgres_fingerprint(server: Server, database: str) -> str | None:
    with _pg_connect(server, "postgres", autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None:
            return None
    with _pg_connect(server, database) as conn:
        row = conn.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", (TABLE,)).fetchone()
    return None if row is None else (str(row[0]) if row[0] is not None else None)


def load_postgres(server: Server, database: str, *, csv: Path, parquet: Path, fingerprint: str) -> float:
    """(Re)create ``database`` and COPY the CSV into ``orders``; seconds taken.

    ``parquet`` is the file the CSV was written from: the loaded rows must number as many."""
    started = time.perf_counter()
    drop_postgres(server, database)
    with _pg_connect(server, "postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    with _pg_connect(server, database) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute(create_table_sql("postgresql", primary_key=False).encode())
        with (
            conn.cursor().copy(f"COPY {TABLE} FROM STDIN (FORMAT csv, NULL '\\N')".encode()) as copy,
            csv.open("rb") as source,
        ):
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        conn.execute(f"ALTER TABLE {TABLE} ADD PRIMARY KEY (id)".encode())
        counted = conn.execute(f"SELECT count(*) FROM {TABLE}".encode()).fetchone()
        _check_count(int(counted[0]) if counted else 0, parquet, f"PostgreSQL {database}")
        conn.execute(
            sql.SQL("COMMENT ON TABLE {} IS {}").format(sql.Identifier(TABLE), sql.Literal(fingerprint))
        )
        conn.commit()
        conn.autocommit = True
        conn.execute(f"ANALYZE {TABLE}".encode())
    return time.perf_counter() - started


def drop_postgres(server: Server, database: str) -> None:
    with _pg_connect(server, "postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def mariadb_fingerprint(server: Server, database: str) -> str | None:
    conn = _my_connect(server)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_comment FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                (database, TABLE),
            )
            row = cur.fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


def load_mariadb(server: Server, database: str, *, csv: Path, parquet: Path, fingerprint: str) -> float:
    """(Re)create ``database`` and LOAD DATA LOCAL INFILE the CSV into an InnoDB ``orders``.

    ``local_infile`` is switched on for the load if the server has it off, and restored after."""
    started = time.perf_counter()
    with loading_cursor(server) as cur:
        _fill_mariadb(cur, database, csv=csv, parquet=parquet, fingerprint=fingerprint)
    return time.perf_counter() - started


@contextmanager
def loading_cursor(server: Server) -> Iterator[pymysql.cursors.Cursor]:
    """A cursor on ``server`` that may LOAD DATA LOCAL INFILE: ``local_infile`` is switched on for
    the block if the server has it off, and restored after."""
    conn = _my_connect(server)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@GLOBAL.local_infile")
            found = cur.fetchone()
            previous = int(found[0]) if found else 0
            if not previous:
                cur.execute("SET GLOBAL local_infile = 1")
            try:
                yield cur
            finally:
                if not previous:
                    cur.execute("SET GLOBAL local_infile = %s", (previous,))
    finally:
        conn.close()


def _fill_mariadb(
    cur: pymysql.cursors.Cursor, database: str, *, csv: Path, parquet: Path, fingerprint: str
) -> None:
    cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
    cur.execute(f"CREATE DATABASE `{database}`")
    cur.execute(f"USE `{database}`")
    cur.execute(create_table_sql("mysql", primary_key=True))
    cur.execute("SET unique_checks = 0, foreign_key_checks = 0")
    cur.execute(
        f"LOAD DATA LOCAL INFILE %s INTO TABLE {TABLE} FIELDS TERMINATED BY ',' "
        f"OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\\n' ({', '.join(COLUMNS)})",
        (str(csv),),
    )
    cur.execute(f"SELECT count(*) FROM {TABLE}")
    counted = cur.fetchone()
    _check_count(int(counted[0]) if counted else 0, parquet, f"MariaDB {database}")
    cur.execute(f"ALTER TABLE {TABLE} COMMENT = %s", (fingerprint,))
    cur.execute(f"ANALYZE TABLE {TABLE}")


def drop_mariadb(server: Server, database: str) -> None:
    conn = _my_connect(server)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
    finally:
        conn.close()


def duckdb_fingerprint(path: Path) -> str | None:
    if not path.exists():
        return None
    connection = duckdb.connect(str(path), read_only=True)
    try:
        row = connection.execute(
            "SELECT comment FROM duckdb_tables() WHERE table_name = ?", [TABLE]
        ).fetchone()
    finally:
        connection.close()
    return None if row is None or row[0] is None else str(row[0])


def load_duckdb(path: Path, *, parquet: Path, fingerprint: str) -> float:
    """Write a fresh DuckDB file holding ``orders`` (with its primary key) from the Parquet file."""
    started = time.perf_counter()
    path.unlink(missing_ok=True)
    connection = duckdb.connect(str(path))
    try:
        connection.execute("SET enable_progress_bar = false")
        connection.execute(create_table_sql("duckdb", primary_key=True))
        connection.execute(f"INSERT INTO {TABLE} SELECT * FROM read_parquet(?)", [str(parquet)])
        quoted = fingerprint.replace("'", "''")
        connection.execute(f"COMMENT ON TABLE {TABLE} IS '{quoted}'")
        connection.execute("CHECKPOINT")
    finally:
        connection.close()
    return time.perf_counter() - started
