"""The MariaDB/MySQL connector against a real server: introspection, faithful streaming, key fetches, errors."""

from __future__ import annotations

import uuid

import pyarrow as pa
import pytest

from pm_pipeline.core.connectors import TypeFamily, connect
from pm_pipeline.core.connectors.mysql import MySqlConnector
from pm_pipeline.core.errors import ConnectionFailure, SystemFailure, TableNotFoundError

pytestmark = pytest.mark.mariadb

RICH_DDL = (
    # Zero dates exist in legacy MySQL data; the default sql_mode of older servers let them in.
    "SET SESSION sql_mode = ''",
    "CREATE TABLE parent (id int PRIMARY KEY)",
    """CREATE TABLE rich (
        region varchar(10) NOT NULL, id int unsigned NOT NULL AUTO_INCREMENT, flag tinyint(1),
        amount decimal(12,2) DEFAULT 0.00, big bigint unsigned, ratio double, name varchar(50),
        born date, ts datetime(6), tsz timestamp(3) NULL, at time(2), doc json, raw varbinary(8),
        bits bit(1), e enum('a','b'), s set('x','y'), parent_id int,
        PRIMARY KEY (region, id), KEY (id), UNIQUE KEY rich_name_uq (name), KEY rich_born (born, ts),
        CONSTRAINT rich_parent FOREIGN KEY (parent_id) REFERENCES parent (id),
        CONSTRAINT amount_floor CHECK (amount > -1000))""",
    "INSERT INTO parent VALUES (1)",
    # Written with a +02:00 session: TIMESTAMP must read back in UTC.
    "SET SESSION time_zone = '+02:00'",
    """INSERT INTO rich (region, flag, amount, big, ratio, name, born, ts, tsz, at, doc, raw, bits, e, s,
        parent_id) VALUES
        ('eu', 1, 1234567890.10, 18446744073709551615, 0.25, 'Zoë 😀 it''s', '2024-02-29',
         '2024-01-01 00:00:00.123456', '2024-06-01 12:00:00.654', '-838:59:59.99', '{"a": [1, 2]}',
         x'00ff', b'1', 'b', 'x,y', 1),
        ('us', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        ('eu', 0, -0.50, NULL, NULL, 'zero', '0000-00-00', '0000-00-00 00:00:00', NULL, NULL, NULL, NULL,
         b'0', NULL, '', NULL)""",
    "DELETE FROM rich WHERE region = 'us'",
    "INSERT INTO rich (region, id) VALUES ('us', 41)",
)


@pytest.fixture
def rich(mariadb_db):
    mariadb_db.execute(*RICH_DDL)
    with connect(mariadb_db.url) as conn:
        yield conn


def test_introspect_reports_types_keys_constraints_and_auto_increment(rich):
    schema = rich.introspect("rich")
    cols = {col.name: col for col in schema.columns}
    assert schema.column_names[:3] == ("region", "id", "flag")
    expected = {
        "id": TypeFamily.INTEGER,
        "flag": TypeFamily.INTEGER,
        "amount": TypeFamily.DECIMAL,
        "ratio": TypeFamily.FLOAT,
        "name": TypeFamily.TEXT,
        "born": TypeFamily.DATE,
        "ts": TypeFamily.TIMESTAMP,
        "tsz": TypeFamily.TIMESTAMPTZ,
        "at": TypeFamily.TIME,
        "doc": TypeFamily.JSON,
        "raw": TypeFamily.BINARY,
        "bits": TypeFamily.INTEGER,
        "e": TypeFamily.ENUM,
        "s": TypeFamily.SET,
    }
    assert {name: cols[name].family for name in expected} == expected
    assert cols["flag"].data_type == "tinyint(1)" and cols["flag"].precision == 8
    assert (cols["amount"].data_type, cols["amount"].precision, cols["amount"].scale) == (
        "decimal(12,2)",
        12,
        2,
    )
    assert cols["amount"].default == "0.00" and cols["name"].default is None
    assert cols["big"].unsigned and cols["big"].precision == 64 and cols["id"].unsigned
    assert (cols["ts"].precision, cols["tsz"].precision, cols["name"].length) == (6, 3, 50)
    assert (cols["e"].enum_values, cols["s"].enum_values) == (("a", "b"), ("x", "y"))
    assert cols["id"].identity and not cols["flag"].identity
    assert not cols["region"].nullable and cols["flag"].nullable
    assert schema.primary_key == ("region", "id")
    assert [(u.name, u.columns) for u in schema.unique_constraints] == [("rich_name_uq", ("name",))]
    fk = schema.foreign_keys[0]
    assert (fk.name, fk.columns, fk.ref_table, fk.ref_columns) == (
        "rich_parent",
        ("parent_id",),
        "parent",
        ("id",),
    )
    # The json_valid() check MariaDB adds for JSON columns is the type, not a business rule.
    assert [c.name for c in schema.check_constraints] == ["amount_floor"]
    assert {"rich_born", "rich_name_uq"} <= {ix.name for ix in schema.indexes}
    assert "PRIMARY" not in {ix.name for ix in schema.indexes}
    assert next(ix.columns for ix in schema.indexes if ix.name == "rich_born") == ("born", "ts")
    # Rows 1-3 inserted, then 41 explicitly: the counter moves past it.
    assert [(s.column, s.next_value) for s in schema.sequences] == [("id", 42)]


def test_stream_table_returns_exact_values(rich):
    rows = {
        (r["region"], r["id"]): r for r in pa.Table.from_batches(list(rich.stream_table("rich"))).to_pylist()
    }
    first, zero = rows[("eu", 1)], rows[("eu", 3)]
    assert first["amount"] == "1234567890.10" and zero["amount"] == "-0.50"
    assert first["name"] == "Zoë 😀 it's" and first["big"] == 18446744073709551615
    assert (first["flag"], first["bits"], zero["bits"]) == (1, 1, 0)
    assert first["ts"] == "2024-01-01 00:00:00.123456"
    assert first["tsz"] == "2024-06-01 10:00:00.654"  # written at +02:00, read in UTC
    assert (first["born"], first["at"]) == ("2024-02-29", "-838:59:59.99")
    assert (zero["born"], zero["ts"]) == ("0000-00-00", "0000-00-00 00:00:00.000000")
    assert (first["e"], first["s"], first["raw"], first["doc"]) == ("b", "x,y", b"\x00\xff", '{"a": [1, 2]}')
    assert all(
        value is None for key, value in rows[("us", 41)].items() if key not in {"region", "id", "amount"}
    )


def test_batches_are_bounded(mariadb_db):
    mariadb_db.execute(
        "CREATE TABLE many (id int PRIMARY KEY, t char(32))",
        "INSERT INTO many SELECT seq, md5(seq) FROM seq_1_to_2500",
    )
    with connect(mariadb_db.url) as conn:
        sizes = [batch.num_rows for batch in conn.stream_table("many", batch_rows=1000)]
    assert sum(sizes) == 2500 and max(sizes) <= 1000 and len(sizes) >= 3


def test_empty_table_streams_no_rows(mariadb_db):
    mariadb_db.execute("CREATE TABLE empty (id int, amount decimal(5,1))")
    with connect(mariadb_db.url) as conn:
        assert sum(b.num_rows for b in conn.stream_table("empty")) == 0
        assert conn.query_arrow("SELECT id FROM empty").num_rows == 0


def test_fetch_by_single_and_composite_keys(rich):
    schema = rich.introspect("rich")
    by_name = pa.Table.from_batches(
        list(rich.fetch_by_keys("rich", schema=schema, key_columns=["name"], keys=[("Zoë 😀 it's",), ("x",)]))
    )
    assert by_name.column("id").to_pylist() == [1]
    composite = pa.Table.from_batches(
        list(
            rich.fetch_by_keys(
                "rich",
                schema=schema,
                key_columns=["region", "id"],
                keys=[("eu", 3), ("us", 41), ("us", 3)],
                columns=["region", "id", "amount"],
                chunk=2,
            )
        )
    )
    assert sorted(composite.to_pylist(), key=lambda r: r["id"]) == [
        {"region": "eu", "id": 3, "amount": "-0.50"},
        {"region": "us", "id": 41, "amount": "0.00"},
    ]


def test_quotes_odd_identifiers_and_lists_base_tables_only(mariadb_db):
    mariadb_db.execute(
        'CREATE TABLE `odd ``name` (`my col` int, `q"uote` text)',
        "INSERT INTO `odd ``name` VALUES (1, 'a')",
        "CREATE VIEW v AS SELECT 1 AS x",
    )
    with connect(mariadb_db.url) as conn:
        assert conn.list_tables() == ["odd `name"]
        rows = pa.Table.from_batches(list(conn.stream_table("odd `name"))).to_pylist()
        assert rows == [{"my col": 1, 'q"uote': "a"}]
        assert conn.row_count("odd `name") == 1


def test_execute_with_parameters_and_server_version(rich):
    assert rich.execute("SELECT COUNT(*) FROM rich WHERE region = %s", ("eu",)) == [(2,)]
    assert rich.server_version().startswith(("MariaDB 1", "MySQL "))


def test_transaction_commits_and_rolls_back(mariadb_db):
    mariadb_db.execute("CREATE TABLE t (id int) ENGINE=InnoDB")
    with connect(mariadb_db.url) as conn:
        with conn.transaction() as tx:
            tx.execute("INSERT INTO t VALUES (%s)", (1,))
        with pytest.raises(RuntimeError), conn.transaction() as tx:
            tx.execute("INSERT INTO t VALUES (%s)", (2,))
            raise RuntimeError("abort")
    assert mariadb_db.query("SELECT id FROM t") == [(1,)]


def test_unreachable_port_fails_fast_without_password():
    with pytest.raises(ConnectionFailure) as err:
        connect("mysql://root:s3cret@127.0.0.1:3999/x")
    message = str(err.value)
    assert "s3cret" not in message and "root:***@127.0.0.1:3999" in message
    assert "refused" in message and "\n" not in message


def test_wrong_password_is_refused(mariadb_db):
    user = f"pmt_{uuid.uuid4().hex[:8]}"
    mariadb_db.execute(
        f"CREATE USER '{user}'@'%' IDENTIFIED BY 'right-pw'",
        f"GRANT SELECT ON `{mariadb_db.name}`.* TO '{user}'@'%'",
    )
    try:
        with connect(f"mysql://{user}:right-pw@127.0.0.1:3306/{mariadb_db.name}") as conn:
            assert conn.list_tables() == []
        with pytest.raises(ConnectionFailure, match="Access denied") as err:
            connect(f"mysql://{user}:wrong-pw@127.0.0.1:3306/{mariadb_db.name}")
        assert "wrong-pw" not in str(err.value)
    finally:
        mariadb_db.execute(f"DROP USER '{user}'@'%'")


def test_unknown_database_and_missing_table(mariadb_db):
    with pytest.raises(ConnectionFailure, match="Unknown database"):
        connect(mariadb_db.url + "_nope")
    with connect(mariadb_db.url) as conn:
        assert isinstance(conn, MySqlConnector)
        with pytest.raises(TableNotFoundError, match="no_such_table"):
            conn.introspect("no_such_table")
        with pytest.raises(TableNotFoundError, match="no_such_table"):
            list(conn.stream_query("SELECT * FROM no_such_table"))


def test_an_error_while_streaming_is_a_failure_naming_the_table(mariadb_db):
    # The server fails while executing the query, after connectorx has started: connectorx panics.
    mariadb_db.execute("CREATE TABLE `odd t` (x int)", "INSERT INTO `odd t` VALUES (1), (2), (3)")
    with connect(mariadb_db.url) as conn:
        table = conn.qualified("odd t")
        sql = f"SELECT (SELECT x FROM {table}) AS v FROM {table}"
        for read in (lambda: list(conn.stream_query(sql)), lambda: conn.query_arrow(sql)):
            with pytest.raises(
                SystemFailure, match=r"table `[^`]+`\.`odd t` failed: Subquery returns more than 1 row"
            ):
                read()
        stream = conn.stream_query(f"SELECT x FROM {table}", batch_rows=1)
        assert next(stream).num_rows == 1
        stream.close()
