"""The engine pairs the reconciliation tests run on: real servers and real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from .engines import DuckSide, MySide, Pair, ParquetSide, PgSide, SqliteSide

PAIRS = [
    # The product's main use: a MariaDB application moved to PostgreSQL.
    pytest.param(
        "mariadb->postgres", marks=[pytest.mark.mariadb, pytest.mark.postgres], id="mariadb->postgres"
    ),
    # A PostgreSQL upgrade or re-platforming (dump/restore, logical replication).
    pytest.param("postgres->postgres", marks=[pytest.mark.postgres], id="postgres->postgres"),
    # An embedded application database moved into an analytics engine.
    pytest.param("sqlite->duckdb", id="sqlite->duckdb"),
    # A data-lake export loaded into a warehouse table.
    pytest.param("parquet->duckdb", id="parquet->duckdb"),
]


@pytest.fixture(params=PAIRS)
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Pair:
    name: str = request.param
    if name == "mariadb->postgres":
        return Pair(
            name,
            MySide(request.getfixturevalue("mariadb_db").url),
            PgSide(request.getfixturevalue("pg_db").url),
        )
    if name == "postgres->postgres":
        return Pair(
            name, PgSide(request.getfixturevalue("pg_db").url), PgSide(request.getfixturevalue("pg_db2").url)
        )
    if name == "sqlite->duckdb":
        return Pair(name, SqliteSide(tmp_path / "source.db"), DuckSide(tmp_path / "target.duckdb"))
    return Pair(name, ParquetSide(tmp_path / "lake"), DuckSide(tmp_path / "target.duckdb"))
