"""Loading the bench data: every value survives COPY, LOAD DATA and DuckDB exactly; reuse goes by fingerprint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from pm_pipeline.bench import load
from pm_pipeline.bench.generate import COLUMNS, DataSet, generate
from pm_pipeline_tests.conftest import MY_HOST, MY_PORT, PG_HOST, PG_PORT, MyDatabase, PgDatabase

PG = load.Server("postgresql", PG_HOST, PG_PORT, "postgres", "")
MY = load.Server("mysql", MY_HOST, MY_PORT, "root", "")


@pytest.fixture(scope="module")
def data_set(tmp_path_factory: pytest.TempPathFactory) -> DataSet:
    return generate(directory=tmp_path_factory.mktemp("load"), rows=1_500, seed=3, rate=0.05, csv=True)


def _parquet_rows(path: Path) -> list[tuple[Any, ...]]:
    return duckdb.sql(f"SELECT * FROM read_parquet('{path}') ORDER BY id").fetchall()


SELECT = f"SELECT {', '.join(COLUMNS)} FROM orders ORDER BY id"


@pytest.mark.postgres
def test_postgres_copy_keeps_every_value_and_records_the_fingerprint(
    pg_db: PgDatabase, data_set: DataSet
) -> None:
    assert load.postgres_fingerprint(PG, pg_db.name) is None  # an empty database holds no bench data
    load.load_postgres(PG, pg_db.name, csv=data_set.target_csv, fingerprint=data_set.fingerprint)
    assert pg_db.query(SELECT) == _parquet_rows(data_set.target_parquet)
    assert pg_db.query("SELECT count(*) FROM pg_indexes WHERE tablename = 'orders'") == [(1,)]
    assert load.postgres_fingerprint(PG, pg_db.name) == data_set.fingerprint


@pytest.mark.mariadb
def test_mariadb_load_data_keeps_every_value(mariadb_db: MyDatabase, data_set: DataSet) -> None:
    load.load_mariadb(MY, mariadb_db.name, csv=data_set.source_csv, fingerprint=data_set.fingerprint)
    loaded = [(*row[:-1], bool(row[-1])) for row in mariadb_db.query(SELECT)]  # BOOLEAN is tinyint(1)
    assert loaded == _parquet_rows(data_set.source_parquet)
    assert load.mariadb_fingerprint(MY, mariadb_db.name) == data_set.fingerprint
    engine = "SELECT engine FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'orders'"
    assert mariadb_db.query(engine) == [("InnoDB",)]


def test_duckdb_file_has_the_rows_the_key_and_the_fingerprint(tmp_path: Path, data_set: DataSet) -> None:
    path = tmp_path / "target.duckdb"
    assert load.duckdb_fingerprint(path) is None
    load.load_duckdb(path, parquet=data_set.target_parquet, fingerprint=data_set.fingerprint)
    with duckdb.connect(str(path), read_only=True) as connection:
        assert connection.execute(SELECT).fetchall() == _parquet_rows(data_set.target_parquet)
        keys = connection.execute(
            "SELECT constraint_type FROM duckdb_constraints() WHERE table_name = 'orders'"
        )
        assert ("PRIMARY KEY",) in keys.fetchall()
    assert load.duckdb_fingerprint(path) == data_set.fingerprint


def test_server_urls_need_a_user_and_a_host() -> None:
    server = load.Server.parse("mysql://root:pw@db.example:3307", default_port=3306)
    assert server.url("shop") == "mysql://root:pw@db.example:3307/shop"
    assert load.Server.parse("postgresql://app@db", default_port=5432).port == 5432
    with pytest.raises(ValueError, match="needs a user and a host"):
        load.Server.parse("postgresql://db.example", default_port=5432)
