"""Loading the bench data: every value survives COPY, LOAD DATA and DuckDB exactly; reuse goes by fingerprint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from pm_pipeline.core.errors import BadInputError, SystemFailure
from pm_pipeline_bench import load
from pm_pipeline_bench.generate import COLUMNS, DataSet, generate
from pm_pipeline_tests.conftest import MY_HOST, MY_PORT, PG_HOST, PG_PORT, MyDatabase, PgDatabase

PG = load.Server("postgresql", PG_HOST, PG_PORT, "postgres", "")
MY = load.Server("mysql", MY_HOST, MY_PORT, "root", "")


@pytest.fixture(scope="module")
def data_set(tmp_path_factory: pytest.TempPathFactory) -> DataSet:
    return generate(directory=tmp_path_factory.mktemp("load"), rows=1_500, seed=3, rate=0.05, csv=True)


def _parquet_rows(path: Path) -> list[tuple[Any, ...]]:
    return duckdb.execute(f"SELECT * FROM read_parquet('{path}') ORDER BY id").fetchall()


SELECT = f"SELECT {', '.join(COLUMNS)} FROM orders ORDER BY id"


@pytest.mark.postgres
def test_postgres_copy_keeps_every_value_and_records_the_fingerprint(
    pg_db: PgDatabase, data_set: DataSet
) -> None:
    assert load.postgres_fingerprint(PG, pg_db.name) is None  # an empty database holds no bench data
    load.load_postgres(
        PG,
        pg_db.name,
        csv=data_set.target_csv,
        parquet=data_set.target_parquet,
        fingerprint=data_set.fingerprint,
    )
    assert pg_db.query(SELECT) == _parquet_rows(data_set.target_parquet)
    assert pg_db.query("SELECT count(*) FROM pg_indexes WHERE tablename = 'orders'") == [(1,)]
    assert load.postgres_fingerprint(PG, pg_db.name) == data_set.fingerprint


@pytest.mark.mariadb
def test_mariadb_load_data_keeps_every_value(mariadb_db: MyDatabase, data_set: DataSet) -> None:
    load.load_mariadb(
        MY,
        mariadb_db.name,
        csv=data_set.source_csv,
        parquet=data_set.source_parquet,
        fingerprint=data_set.fingerprint,
    )
    loaded = [(*row[:-1], bool(row[-1])) for row in mariadb_db.query(SELECT)]  # BOOLEAN is tinyint(1)
    assert loaded == _parquet_rows(data_set.source_parquet)
    assert load.mariadb_fingerprint(MY, mariadb_db.name) == data_set.fingerprint
    engine = "SELECT engine FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'orders'"
    assert mariadb_db.query(engine) == [("InnoDB",)]


def _cut_csv(data_set: DataSet, tmp_path: Path) -> Path:
    """The source CSV without its last 10 rows, as a load interrupted or fed a stale file would hold."""
    lines = data_set.source_csv.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.csv"
    cut.write_text("".join(lines[:-10]))
    return cut


@pytest.mark.postgres
def test_postgres_rows_not_matching_the_parquet_file_get_no_fingerprint(
    pg_db: PgDatabase, data_set: DataSet, tmp_path: Path
) -> None:
    with pytest.raises(SystemFailure, match=r"left 1,[0-9]{3} rows in orders, but .*source.parquet holds"):
        load.load_postgres(
            PG,
            pg_db.name,
            csv=_cut_csv(data_set, tmp_path),
            parquet=data_set.source_parquet,
            fingerprint="v1-x",
        )
    assert load.postgres_fingerprint(PG, pg_db.name) is None


def _local_infile() -> int:
    conn = load._my_connect(MY)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@GLOBAL.local_infile")
            row = cur.fetchone()
    finally:
        conn.close()
    assert row is not None
    return int(row[0])


def _set_local_infile(value: int) -> None:
    conn = load._my_connect(MY)
    try:
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL local_infile = %s", (value,))
    finally:
        conn.close()


@pytest.mark.mariadb
def test_mariadb_rows_not_matching_the_parquet_file_get_no_fingerprint(
    mariadb_db: MyDatabase, data_set: DataSet, tmp_path: Path
) -> None:
    with pytest.raises(SystemFailure, match=r"left 1,[0-9]{3} rows in orders, but .*source.parquet holds"):
        load.load_mariadb(
            MY,
            mariadb_db.name,
            csv=_cut_csv(data_set, tmp_path),
            parquet=data_set.source_parquet,
            fingerprint="v1-x",
        )
    assert load.mariadb_fingerprint(MY, mariadb_db.name) == ""  # the table is there, unmarked


@pytest.mark.mariadb
def test_mariadb_local_infile_is_switched_back_off_after_the_load(
    mariadb_db: MyDatabase, data_set: DataSet, tmp_path: Path
) -> None:
    original = _local_infile()
    _set_local_infile(0)
    try:
        load.load_mariadb(
            MY, mariadb_db.name, csv=data_set.source_csv, parquet=data_set.source_parquet, fingerprint="v1-ok"
        )
        assert load.mariadb_fingerprint(MY, mariadb_db.name) == "v1-ok"
        assert _local_infile() == 0
        with pytest.raises(SystemFailure):
            load.load_mariadb(
                MY,
                mariadb_db.name,
                csv=_cut_csv(data_set, tmp_path),
                parquet=data_set.source_parquet,
                fingerprint="x",
            )
        assert _local_infile() == 0  # a failed load restores it too
    finally:
        _set_local_infile(original)


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


def test_server_urls_are_decoded_and_encoded_again() -> None:
    server = load.Server.parse("postgresql://app%40corp:p%40ss%2Fw%3Ard@db.example", default_port=5432)
    assert (server.user, server.password, server.port) == ("app@corp", "p@ss/w:rd", 5432)
    assert server.url("shop") == "postgresql://app%40corp:p%40ss%2Fw%3Ard@db.example:5432/shop"
    with pytest.raises(ValueError, match=r"postgresql://:\*\*\*@db needs a user") as refused:
        load.Server.parse("postgresql://:secret@db", default_port=5432)
    assert "secret" not in str(refused.value)
    with pytest.raises(BadInputError, match="malformed"):
        load.Server.parse("postgresql://app@db:port", default_port=5432)
