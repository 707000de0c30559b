"""The DuckDB connector against real database files: opening, introspection, Arrow streaming, keyed fetches, writes."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pm_pipeline.core.connectors import TypeFamily, connect
from pm_pipeline.core.errors import BadInputError, SystemFailure, TableNotFoundError

RICH_DDL = """
CREATE SEQUENCE order_ids START 100;
CREATE TABLE customers (region VARCHAR, code VARCHAR, PRIMARY KEY (region, code));
CREATE TABLE orders (
    id INTEGER PRIMARY KEY DEFAULT nextval('order_ids'),
    amount DECIMAL(12,2) NOT NULL CHECK (amount >= 0),
    ratio DOUBLE,
    label VARCHAR UNIQUE,
    paid BOOLEAN DEFAULT false,
    due DATE,
    at_time TIME,
    created TIMESTAMP,
    created_tz TIMESTAMPTZ,
    span INTERVAL,
    payload BLOB,
    ref UUID,
    status ENUM('new', 'paid'),
    tiny UTINYINT,
    tags VARCHAR[],
    region VARCHAR,
    code VARCHAR,
    FOREIGN KEY (region, code) REFERENCES customers (region, code)
);
CREATE INDEX orders_created ON orders (created, label);
"""


def make_db(path: Path, ddl: str, *rows: str) -> str:
    conn = duckdb.connect(str(path))
    conn.execute(ddl)
    for statement in rows:
        conn.execute(statement)
    conn.close()
    return f"duckdb:///{path}"


@pytest.fixture
def rich_url(tmp_path: Path) -> str:
    return make_db(
        tmp_path / "rich.duckdb",
        RICH_DDL,
        "INSERT INTO customers VALUES ('eu', 'c1'), ('us', 'c2')",
        "INSERT INTO orders (amount, label, created, created_tz, region, code) VALUES "
        "(12.50, 'café ☕', '2024-03-01 10:00:00.123456', '2024-03-01 10:00:00.5+02', 'eu', 'c1'), "
        "(0.01, '😀', NULL, NULL, 'us', 'c2'), (7, NULL, NULL, NULL, NULL, NULL)",
    )


def test_introspect_reports_every_family_and_constraint(rich_url: str) -> None:
    with connect(rich_url) as conn:
        schema = conn.introspect("orders")
    families = {col.name: col.family for col in schema.columns}
    assert families == {
        "id": TypeFamily.INTEGER,
        "amount": TypeFamily.DECIMAL,
        "ratio": TypeFamily.FLOAT,
        "label": TypeFamily.TEXT,
        "paid": TypeFamily.BOOLEAN,
        "due": TypeFamily.DATE,
        "at_time": TypeFamily.TIME,
        "created": TypeFamily.TIMESTAMP,
        "created_tz": TypeFamily.TIMESTAMPTZ,
        "span": TypeFamily.INTERVAL,
        "payload": TypeFamily.BINARY,
        "ref": TypeFamily.UUID,
        "status": TypeFamily.ENUM,
        "tiny": TypeFamily.INTEGER,
        "tags": TypeFamily.OTHER,
        "region": TypeFamily.TEXT,
        "code": TypeFamily.TEXT,
    }
    amount = schema.column("amount")
    assert (amount.data_type, amount.precision, amount.scale, amount.nullable) == (
        "DECIMAL(12,2)",
        12,
        2,
        False,
    )
    assert schema.column("tiny").unsigned and schema.column("tiny").precision == 8
    assert schema.column("status").enum_values == ("new", "paid")
    assert schema.column("paid").default == "false"
    assert schema.column("id").identity and not schema.column("id").nullable
    assert schema.primary_key == ("id",)
    assert [u.columns for u in schema.unique_constraints] == [("label",)]
    assert [(fk.columns, fk.ref_table, fk.ref_columns) for fk in schema.foreign_keys] == [
        (("region", "code"), "customers", ("region", "code"))
    ]
    assert [c.expression for c in schema.check_constraints] == ["(amount >= 0)"]
    assert [(i.name, i.columns, i.unique) for i in schema.indexes] == [
        ("orders_created", ("created", "label"), False)
    ]
    # Three rows took 100, 101, 102 from the sequence: the next one handed out is 103.
    assert [(s.name, s.column, s.next_value) for s in schema.sequences] == [("order_ids", "id", 103)]


def test_composite_primary_key(rich_url: str) -> None:
    with connect(rich_url) as conn:
        assert conn.introspect("customers").primary_key == ("region", "code")
        assert conn.list_tables() == ["customers", "orders"]
        assert conn.server_version() == f"DuckDB {duckdb.__version__}"


def test_stream_returns_exactly_the_inserted_values(rich_url: str) -> None:
    with connect(rich_url) as conn:
        table = pa.Table.from_batches(
            list(conn.stream_table("orders", columns=["id", "amount", "label", "created", "created_tz"]))
        ).sort_by("id")
    assert table.column("amount").to_pylist() == [
        decimal.Decimal("12.50"),
        decimal.Decimal("0.01"),
        decimal.Decimal("7.00"),
    ]
    assert table.column("label").to_pylist() == ["café ☕", "😀", None]
    assert table.column("created").to_pylist()[0] == dt.datetime(2024, 3, 1, 10, 0, 0, 123456)
    created_tz = table.column("created_tz").to_pylist()[0]
    assert created_tz == dt.datetime(2024, 3, 1, 8, 0, 0, 500000, tzinfo=dt.UTC)
    assert created_tz.utcoffset() == dt.timedelta(0)


def test_batches_are_bounded(tmp_path: Path) -> None:
    url = make_db(tmp_path / "n.duckdb", "CREATE TABLE n AS SELECT range AS i FROM range(2500)")
    with connect(url) as conn:
        sizes = [batch.num_rows for batch in conn.stream_table("n", batch_rows=1000)]
    assert sum(sizes) == 2500
    assert max(sizes) <= 1000


def test_fetch_by_keys_single_and_composite(rich_url: str) -> None:
    with connect(rich_url) as conn:
        orders = conn.introspect("orders")
        found = pa.Table.from_batches(
            list(
                conn.fetch_by_keys("orders", schema=orders, key_columns=["id"], keys=[(100,), (102,), (999,)])
            )
        )
        assert sorted(found.column("id").to_pylist()) == [100, 102]
        customers = conn.introspect("customers")
        batches = conn.fetch_by_keys(
            "customers",
            schema=customers,
            key_columns=["region", "code"],
            keys=[("us", "c2"), ("eu", "c2")],
            chunk=1,
        )
        assert pa.Table.from_batches(list(batches)).to_pylist() == [{"region": "us", "code": "c2"}]


def test_missing_file_is_refused_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.duckdb"
    with pytest.raises(BadInputError, match=r"nope\.duckdb"):
        connect(f"duckdb:///{missing}")
    assert not missing.exists()


def test_missing_table(rich_url: str) -> None:
    with connect(rich_url) as conn:
        with pytest.raises(TableNotFoundError, match="ghost"):
            conn.introspect("ghost")
        with pytest.raises(TableNotFoundError):
            conn.row_count("ghost")


def test_empty_table_and_odd_names(tmp_path: Path) -> None:
    url = make_db(tmp_path / "odd.duckdb", 'CREATE TABLE "we""ird tab" ("sel ect" INTEGER, "a""b" VARCHAR)')
    with connect(url) as conn:
        assert conn.list_tables() == ['we"ird tab']
        assert sum(b.num_rows for b in conn.stream_table('we"ird tab')) == 0
        assert conn.row_count('we"ird tab') == 0
        odd = conn.qualified('we"ird tab')
        assert conn.query_arrow(f"SELECT * FROM {odd}").column_names == [
            "sel ect",
            'a"b',
        ]


def test_source_opened_read_only(rich_url: str) -> None:
    with connect(rich_url) as conn, pytest.raises(duckdb.Error, match="read-only"):
        conn.execute("DELETE FROM customers")


def test_transaction_commits_and_rolls_back(rich_url: str) -> None:
    with connect(rich_url) as conn:
        with conn.transaction() as tx:
            tx.execute("INSERT INTO customers VALUES (?, ?)", ["asia", "c3"])
        assert conn.row_count("customers") == 3
        with pytest.raises(RuntimeError), conn.transaction() as tx:
            tx.execute("DELETE FROM customers WHERE region = ?", ["asia"])
            raise RuntimeError("restore failed half way")
        assert conn.execute("SELECT code FROM customers WHERE region = ?", ["asia"]) == [("c3",)]


def test_fetch_by_keys_takes_every_key_type_and_fails_like_any_read(tmp_path: Path) -> None:
    url = make_db(
        tmp_path / "keys.duckdb",
        "CREATE TABLE big (id UBIGINT, part VARCHAR, v INTEGER, PRIMARY KEY (id, part))",
        "INSERT INTO big VALUES (18446744073709551615, 'a', 1), (9223372036854775808, 'b', 2), (5, 'a', 3)",
    )
    with connect(url) as conn:
        schema = conn.introspect("big")
        single = conn.fetch_by_keys(
            "big", schema=schema, key_columns=["id"], keys=[(2**64 - 1,), (2**63,), (7,)], chunk=1
        )
        batches = [batch for batch in single if batch.num_rows]
        assert len(batches) == 2  # one query per key
        assert sorted(pa.Table.from_batches(batches).column("v").to_pylist()) == [1, 2]
        composite = conn.fetch_by_keys(
            "big", schema=schema, key_columns=["id", "part"], keys=[(2**64 - 1, "a"), (2**63, "a"), (5, "a")]
        )
        assert sorted(pa.Table.from_batches(list(composite)).column("v").to_pylist()) == [1, 3]
        # A key the column's type cannot hold matches no row.
        assert not any(
            b.num_rows for b in conn.fetch_by_keys("big", schema=schema, key_columns=["id"], keys=[(-1,)])
        )
        with pytest.raises(TableNotFoundError, match="gone"):
            list(conn.fetch_by_keys("gone", schema=schema, key_columns=["id"], keys=[(5,)]))


def test_out_of_memory_is_a_system_failure_for_every_read(tmp_path: Path) -> None:
    url = make_db(
        tmp_path / "mem.duckdb", "CREATE TABLE t AS SELECT range AS i, 'x' || range AS s FROM range(200000)"
    )
    with connect(url) as conn:
        schema = conn.introspect("t")
        conn.execute("SET memory_limit = '2MB'")
        aggregate = "SELECT list(s) FROM t"
        reads = {
            "stream_query": lambda: list(conn.stream_query(aggregate)),
            "query_arrow": lambda: conn.query_arrow(aggregate),
            "execute": lambda: conn.execute(aggregate),
            "fetch_by_keys": lambda: list(
                conn.fetch_by_keys(
                    "t", schema=schema, key_columns=["i"], keys=[(i,) for i in range(0, 200000, 2)]
                )
            ),
        }
        for name, read in reads.items():
            with pytest.raises(SystemFailure, match="ran out of memory"):
                read()
                pytest.fail(f"{name} did not run out of memory")
