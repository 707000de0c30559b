"""The files connector: table naming for Parquet files, directories and globs, CSV reading, pushdown SQL over views."""

from __future__ import annotations

import decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pm_pipeline.core.connectors import TypeFamily, connect
from pm_pipeline.core.errors import BadInputError, TableNotFoundError


def write_parquet(path: Path, **columns: list[object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    write_parquet(root / "orders.parquet", id=[1, 2], amount=[decimal.Decimal("1.50"), None])
    write_parquet(root / "events" / "year=2024" / "part-0.parquet", id=[1], kind=["a"])
    write_parquet(root / "events" / "year=2025" / "part-0.parquet", id=[2], kind=["b"])
    write_parquet(root / "my table.parquet", **{'we"ird': ["é😀"]})
    return root


def test_directory_gives_one_table_per_file_and_per_subdirectory(lake: Path) -> None:
    with connect(f"parquet:///{lake}") as conn:
        assert conn.list_tables() == ["events", "my table", "orders"]
        assert conn.server_version() == f"Parquet files (DuckDB {duckdb.__version__})"
        events = pa.Table.from_batches(list(conn.stream_table("events"))).sort_by("id")
        assert events.to_pylist() == [
            {"id": 1, "kind": "a", "year": 2024},
            {"id": 2, "kind": "b", "year": 2025},
        ]
        orders = conn.introspect("orders")
        assert orders.column("amount").family is TypeFamily.DECIMAL
        assert orders.primary_key == () and orders.foreign_keys == ()
        assert conn.query_arrow(f"SELECT * FROM {conn.qualified('my table')}").to_pylist() == [
            {'we"ird': "é😀"}
        ]


def test_pushdown_sql_and_keyed_fetch_on_files(lake: Path) -> None:
    with connect(f"parquet:///{lake}") as conn:
        assert conn.row_count("orders") == 2
        assert conn.execute(f"SELECT sum(amount) FROM {conn.qualified('orders')}") == [
            (decimal.Decimal("1.50"),)
        ]
        schema = conn.introspect("orders")
        rows = pa.Table.from_batches(
            list(conn.fetch_by_keys("orders", schema=schema, key_columns=["id"], keys=[(2,), (3,)]))
        )
        assert rows.to_pylist() == [{"id": 2, "amount": None}]


def test_single_file_named_by_stem(lake: Path) -> None:
    with connect(str(lake / "orders.parquet")) as conn:
        assert conn.list_tables() == ["orders"]
        with pytest.raises(TableNotFoundError):
            conn.introspect("events")


def test_glob_of_part_files_is_one_table(tmp_path: Path) -> None:
    for n in range(3):
        write_parquet(tmp_path / "sales" / f"part-0000{n}.parquet", id=[n])
    with connect(f"{tmp_path}/sales/*.parquet") as conn:
        assert conn.list_tables() == ["sales"]
        assert conn.row_count("sales") == 3


def test_glob_of_named_files_gives_one_table_per_stem(tmp_path: Path) -> None:
    write_parquet(tmp_path / "2024" / "orders.parquet", id=[1])
    write_parquet(tmp_path / "2025" / "orders.parquet", id=[2])
    write_parquet(tmp_path / "2025" / "refunds.parquet", id=[9])
    with connect(f"parquet:///{tmp_path}/*/*.parquet") as conn:
        assert conn.list_tables() == ["orders", "refunds"]
        assert conn.row_count("orders") == 2


def test_hive_parts_through_recursive_glob_are_named_by_the_dataset(lake: Path) -> None:
    with connect(f"parquet:///{lake}/events/**/*.parquet") as conn:
        assert conn.list_tables() == ["events"]


def test_csv_types_and_leading_zeros(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(
        "id,zip,amount,name\n1,00123,1.50,é\n2,45000,2.25,\n", encoding="utf-8"
    )
    with connect(f"csv:///{tmp_path}") as conn:
        assert conn.server_version() == f"CSV files (DuckDB {duckdb.__version__})"
        schema = conn.introspect("people")
        assert schema.column("id").family is TypeFamily.INTEGER
        assert schema.column("zip").family is TypeFamily.TEXT
        rows = pa.Table.from_batches(list(conn.stream_table("people"))).to_pylist()
    assert [row["zip"] for row in rows] == ["00123", "45000"]
    assert [row["name"] for row in rows] == ["é", None]


def test_no_matching_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(BadInputError, match="holds no"):
        connect(f"parquet:///{tmp_path}")
    with pytest.raises(BadInputError, match="matches no"):
        connect(f"{tmp_path}/*.parquet")
    with pytest.raises(BadInputError, match="does not exist"):
        connect(f"parquet:///{tmp_path}/missing")


def test_files_are_read_only(lake: Path) -> None:
    with connect(f"parquet:///{lake}") as conn:
        writes = conn.transaction()
        with pytest.raises(BadInputError, match="read-only"):
            writes.__enter__()
