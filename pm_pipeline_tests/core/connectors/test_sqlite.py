"""The SQLite connector against real database files: affinity-based introspection, typed streaming of dynamic values, writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from pm_pipeline.core.connectors import TypeFamily, connect
from pm_pipeline.core.connectors.sqlite import parse_create_table, sqlite_column_type
from pm_pipeline.core.errors import BadInputError, TableNotFoundError

RICH_DDL = """
CREATE TABLE customers (region TEXT, code TEXT, PRIMARY KEY (region, code)) WITHOUT ROWID;
CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    amount DECIMAL(12,2) NOT NULL DEFAULT 0 CONSTRAINT amount_positive CHECK (amount >= 0),
    price NUMERIC,
    ratio REAL,
    label VARCHAR(40) UNIQUE,
    paid BOOLEAN,
    due DATE,
    created DATETIME,
    payload BLOB,
    qty INTEGER,
    anything,
    region TEXT,
    code TEXT,
    CHECK (length(label) > 0 /* a ')' inside a comment */ AND label <> ')'),
    FOREIGN KEY (region, code) REFERENCES customers (region, code)
);
CREATE INDEX orders_created ON orders (created, due);
CREATE TABLE plain (id INTEGER PRIMARY KEY, note TEXT);
"""


def make_db(path: Path, script: str) -> str:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


@pytest.fixture
def rich_url(tmp_path: Path) -> str:
    return make_db(
        tmp_path / "rich.db",
        RICH_DDL
        + """
        INSERT INTO customers VALUES ('eu', 'c1'), ('us', 'c2');
        INSERT INTO orders (amount, ratio, label, paid, due, created, payload, qty, anything, region, code)
        VALUES ('12.50', 0.1, 'café ☕', 1, '2024-03-01', '2024-03-01 10:00:00.123456', x'00ff', 3, 'x', 'eu', 'c1');
        INSERT INTO orders (amount, label, paid, qty) VALUES (0.3, '😀', 0, 'not a number');
        INSERT INTO orders (amount, label) VALUES (1250, NULL);
        INSERT INTO orders (amount, label) VALUES (5, 'gone');
        DELETE FROM orders WHERE label = 'gone';
        INSERT INTO plain VALUES (41, 'a');
        """,
    )


# Why each case: these are the declared types real SQLite schemas carry (ORM output, hand-written DDL).
@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("DECIMAL(12,2)", (TypeFamily.DECIMAL, None, 12, 2)),
        ("NUMERIC", (TypeFamily.DECIMAL, None, None, None)),
        ("BOOLEAN", (TypeFamily.BOOLEAN, None, None, None)),
        ("DATETIME", (TypeFamily.TIMESTAMP, None, None, None)),
        ("TIMESTAMP", (TypeFamily.TIMESTAMP, None, None, None)),
        ("DATE", (TypeFamily.DATE, None, None, None)),
        ("VARCHAR(40)", (TypeFamily.TEXT, 40, None, None)),
        ("NVARCHAR(10)", (TypeFamily.TEXT, 10, None, None)),
        ("TEXT", (TypeFamily.TEXT, None, None, None)),
        ("BLOB", (TypeFamily.BINARY, None, None, None)),
        ("BIGINT", (TypeFamily.INTEGER, None, 64, None)),
        # SMALLINT UNSIGNED, INT ... were read as 64-bit (the storage), so SQLite -> PostgreSQL
        # smallint/integer columns were all "narrowed": the declared name gives the width.
        ("SMALLINT UNSIGNED", (TypeFamily.INTEGER, None, 16, None)),
        ("INT", (TypeFamily.INTEGER, None, 32, None)),
        ("INTEGER", (TypeFamily.INTEGER, None, 32, None)),
        ("TINYINT(1)", (TypeFamily.INTEGER, None, 8, None)),
        ("UNSIGNED BIG INT", (TypeFamily.INTEGER, None, 64, None)),
        # A name SQLite reads as an integer only by its affinity rule ("INT" inside it): 64 bits.
        ("POINTS", (TypeFamily.INTEGER, None, 64, None)),
        ("DATETIME(3)", (TypeFamily.TIMESTAMP, None, 3, None)),
        ("TIMESTAMP WITH TIME ZONE", (TypeFamily.TIMESTAMPTZ, None, None, None)),
        ("DOUBLE PRECISION", (TypeFamily.FLOAT, None, 53, None)),
        ("", (TypeFamily.OTHER, None, None, None)),
        ("GEOMETRY", (TypeFamily.OTHER, None, None, None)),
    ],
)
def test_declared_type_families(declared: str, expected: tuple[object, ...]) -> None:
    assert sqlite_column_type(declared) == expected


def test_introspect_reports_keys_constraints_and_counters(rich_url: str) -> None:
    with connect(rich_url) as conn:
        assert conn.list_tables() == ["customers", "orders", "plain"]
        schema = conn.introspect("orders")
        customers = conn.introspect("customers")
        plain = conn.introspect("plain")
    amount = schema.column("amount")
    assert (amount.family, amount.precision, amount.scale, amount.nullable, amount.default) == (
        TypeFamily.DECIMAL,
        12,
        2,
        False,
        "0",
    )
    assert schema.column("label").length == 40
    assert schema.column("id").identity and not schema.column("id").nullable
    assert schema.primary_key == ("id",)
    assert customers.primary_key == ("region", "code")
    assert not customers.column("region").nullable  # WITHOUT ROWID enforces NOT NULL on the key
    assert [u.columns for u in schema.unique_constraints] == [("label",)]
    assert [(fk.columns, fk.ref_table, fk.ref_columns) for fk in schema.foreign_keys] == [
        (("region", "code"), "customers", ("region", "code"))
    ]
    assert [(c.name, c.expression) for c in schema.check_constraints] == [
        ("amount_positive", "amount >= 0"),
        (None, "length(label) > 0 /* a ')' inside a comment */ AND label <> ')'"),
    ]
    assert [(i.name, i.columns) for i in schema.indexes] == [("orders_created", ("created", "due"))]
    # AUTOINCREMENT never reuses 4 (deleted); a rowid table hands out max(rowid) + 1.
    assert [(s.column, s.next_value) for s in schema.sequences] == [("id", 5)]
    assert [(s.column, s.next_value) for s in plain.sequences] == [("id", 42)]


def test_next_values_match_what_sqlite_hands_out(rich_url: str, tmp_path: Path) -> None:
    with connect(rich_url) as conn:
        predicted = {name: conn.introspect(name).sequences[0].next_value for name in ("orders", "plain")}
    raw = sqlite3.connect(tmp_path / "rich.db")
    actual = {
        "orders": raw.execute("INSERT INTO orders (amount) VALUES (1) RETURNING id").fetchone()[0],
        "plain": raw.execute("INSERT INTO plain (note) VALUES ('b') RETURNING id").fetchone()[0],
    }
    raw.close()
    assert predicted == actual


def test_stream_values_as_stored(rich_url: str) -> None:
    with connect(rich_url) as conn:
        batches = list(conn.stream_table("orders", batch_rows=2))
    assert [b.num_rows for b in batches] == [2, 1]
    table = pa.Table.from_batches(batches)
    # '12.50' under NUMERIC affinity is stored as the real 12.5; 0.3 as a real; 1250 as an integer.
    assert table.column("amount").to_pylist() == ["12.5", "0.3", "1250"]
    assert table.column("ratio").to_pylist() == [0.1, None, None]
    assert table.column("label").to_pylist() == ["café ☕", "😀", None]
    assert table.column("paid").to_pylist() == [1, 0, None]
    assert table.column("created").to_pylist() == ["2024-03-01 10:00:00.123456", None, None]
    assert table.column("payload").to_pylist() == [b"\x00\xff", None, None]
    # A string stored in an INTEGER column makes the whole column text, instead of crashing.
    assert table.schema.field("qty").type == pa.string()
    assert table.column("qty").to_pylist() == ["3", "not a number", None]
    assert table.schema.field("id").type == pa.int64()


def test_real_money_comes_back_repr_exact(tmp_path: Path) -> None:
    url = make_db(tmp_path / "m.db", "CREATE TABLE m (v DECIMAL(10,2)); INSERT INTO m VALUES (0.1 + 0.2);")
    with connect(url) as conn:
        assert pa.Table.from_batches(list(conn.stream_table("m"))).column("v").to_pylist() == [
            repr(0.1 + 0.2)
        ]


def test_fetch_by_keys_single_and_composite(rich_url: str) -> None:
    with connect(rich_url) as conn:
        orders = conn.introspect("orders")
        found = pa.Table.from_batches(
            list(
                conn.fetch_by_keys(
                    "orders",
                    schema=orders,
                    key_columns=["id"],
                    keys=[(1,), (3,), (99,)],
                    columns=["id", "qty"],
                )
            )
        )
        assert sorted(found.column("id").to_pylist()) == [1, 3]
        # Same schema as a full stream: qty is text because the table holds a string in it.
        assert found.schema.field("qty").type == pa.string()
        customers = conn.introspect("customers")
        batches = conn.fetch_by_keys(
            "customers", schema=customers, key_columns=["region", "code"], keys=[("us", "c2"), ("eu", "c2")]
        )
        assert pa.Table.from_batches(list(batches)).to_pylist() == [{"region": "us", "code": "c2"}]


def test_missing_file_is_refused_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    with pytest.raises(BadInputError, match=r"nope\.db"):
        connect(f"sqlite:///{missing}")
    assert not missing.exists()


def test_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("hello, I am not SQLite" * 100)
    with pytest.raises(BadInputError, match="not a readable SQLite database"):
        connect(f"sqlite:///{junk}")


def test_missing_table_empty_table_and_odd_names(tmp_path: Path) -> None:
    url = make_db(tmp_path / "odd.db", 'CREATE TABLE "we""ird tab" ("sel ect" INTEGER, "a""b" TEXT);')
    with connect(url) as conn:
        with pytest.raises(TableNotFoundError, match="ghost"):
            conn.introspect("ghost")
        with pytest.raises(TableNotFoundError):
            conn.row_count("ghost")
        assert conn.introspect('we"ird tab').column_names == ("sel ect", 'a"b')
        assert sum(b.num_rows for b in conn.stream_table('we"ird tab')) == 0
        assert conn.row_count('we"ird tab') == 0


def test_source_opened_read_only(rich_url: str) -> None:
    with connect(rich_url) as conn, pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM plain")


def test_transaction_commits_and_rolls_back(rich_url: str) -> None:
    with connect(rich_url) as conn:
        with conn.transaction() as tx:
            tx.execute("INSERT INTO plain (note) VALUES (?)", ["committed"])
        assert conn.execute("SELECT id FROM plain WHERE note = ?", ["committed"]) == [(42,)]
        with pytest.raises(RuntimeError), conn.transaction() as tx:
            tx.execute("DELETE FROM plain")
            raise RuntimeError("restore failed half way")
        assert conn.row_count("plain") == 2


def test_create_table_parser_ignores_check_inside_strings() -> None:
    checks, autoincrement, without_rowid = parse_create_table(
        "CREATE TABLE t (a TEXT DEFAULT 'CHECK (x)', \"check\" INT, CHECK (a <> 'it''s'))"
    )
    assert [c.expression for c in checks] == ["a <> 'it''s'"]
    assert (autoincrement, without_rowid) == (False, False)


def test_declared_types_give_width_signedness_and_zero_dates(tmp_path: Path) -> None:
    url = make_db(
        tmp_path / "declared.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, qty SMALLINT UNSIGNED, n INT, big BIGINT, at DATETIME,"
        " born DATE, name VARCHAR(40), note TEXT);"
        "INSERT INTO t VALUES (1, 65535, -5, 9007199254740993, '0000-00-00 00:00:00', '2024-01-01', 'x', 'y');",
    )
    with connect(url) as conn:
        cols = {col.name: col for col in conn.introspect("t").columns}
        table = pa.Table.from_batches(list(conn.stream_table("t")))
    assert {
        name: (c.precision, c.unsigned) for name, c in cols.items() if c.family is TypeFamily.INTEGER
    } == {
        "id": (32, False),
        "qty": (16, True),
        "n": (32, False),
        "big": (64, False),
    }
    assert {name for name, c in cols.items() if c.zero_dates} == {"at", "born"}
    # Stored values are untouched by the declared width.
    assert table.column("big").to_pylist() == [9007199254740993]
    assert table.column("at").to_pylist() == ["0000-00-00 00:00:00"]


def test_estimated_rows_come_from_the_largest_index_statistics(tmp_path: Path) -> None:
    url = make_db(
        tmp_path / "stats.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, flag INT, v INT);"
        "CREATE INDEX t_all ON t (v); CREATE INDEX t_few ON t (v) WHERE flag = 1;"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)"
        " INSERT INTO t SELECT i, i % 10 = 0, i FROM n; ANALYZE;",
    )
    with connect(url) as conn:
        conn.exact_count_bytes = 0  # type: ignore[misc]  # force the statistics path
        # The partial index covers 4 rows and comes first in sqlite_stat1 (unordered): its
        # statistics row must not be taken for the table's.
        assert conn.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = 't' LIMIT 1")[0][0].startswith("4 ")
        assert conn.estimate_rows("t") == 40
