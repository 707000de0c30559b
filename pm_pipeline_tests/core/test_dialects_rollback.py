"""The dialects' restore statements and capabilities, run on the engines they claim to describe."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from pm_pipeline.core.connectors.schema import Column, TypeFamily
from pm_pipeline.core.dialects import ENGINES, dialect_for

F = TypeFamily
ID = Column("id", "integer", F.INTEGER, nullable=False)
NAME = Column("name", "text", F.TEXT)


def test_capabilities_say_how_each_engine_restores() -> None:
    # Which restore strategy and which foreign-key cycles each engine can take.
    flags = {
        engine: (
            dialect_for(engine).supports_transactional_ddl,
            dialect_for(engine).reads_beside_a_writer,
            dialect_for(engine).foreign_key_deferral,
            dialect_for(engine).checks_deleted_children,
            dialect_for(engine).supports_in_database_copies,
        )
        for engine in ENGINES
    }
    assert flags == {
        "postgresql": (True, True, "deferrable", False, True),
        "mysql": (False, True, "all", False, False),
        "sqlite": (True, True, "all", False, False),
        "duckdb": (True, False, "none", True, False),
        "files": (True, True, "none", False, False),
    }


def test_insert_rows_spells_one_parameter_per_value() -> None:
    sqlite = dialect_for("sqlite")
    assert sqlite.insert_rows('"t"', (ID, NAME), 2) == 'INSERT INTO "t" ("id", "name") VALUES (?, ?), (?, ?)'
    # Plans show "?" whatever the engine's own placeholder.
    mysql = dialect_for("mysql")
    assert mysql.insert_rows("`t`", (ID,), 1) == "INSERT INTO `t` (`id`) VALUES (%s)"
    assert mysql.insert_rows("`t`", (ID,), 1, placeholder="?") == "INSERT INTO `t` (`id`) VALUES (?)"


def test_restore_locks_describe_each_strategy() -> None:
    assert dialect_for("postgresql").restore_locks(["a", "b"])[0].startswith("EXCLUSIVE on a, b ")
    assert "RENAME TABLE" in dialect_for("mysql").restore_locks(["a"])[1]
    assert dialect_for("sqlite").restore_locks(["a"]) == (
        "sqlite: database write lock for the whole transaction",
    )


def test_engines_without_an_atomic_swap_say_so() -> None:
    with pytest.raises(NotImplementedError):
        dialect_for("postgresql").swap_statement([("a", "b")])
    with pytest.raises(NotImplementedError):
        dialect_for("sqlite").foreign_key_checks_off()


def test_swap_statements_are_mariadbs_only() -> None:
    mysql = dialect_for("mysql")
    assert mysql.trigger_query("shop", ["a", "b"]) == (
        "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME FROM information_schema.TRIGGERS "
        "WHERE EVENT_OBJECT_SCHEMA = %s AND EVENT_OBJECT_TABLE IN (%s, %s) ORDER BY 1, 2",
        ("shop", "a", "b"),
    )
    assert mysql.existing_tables_query("shop", ["a"]) == (
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN (%s)",
        ("shop", "a"),
    )
    assert mysql.create_database("s`x") == "CREATE DATABASE `s``x`"
    assert mysql.drop_database("s`x") == "DROP DATABASE IF EXISTS `s``x`"
    body = (
        "(\n  `id` int,\n"
        "  CONSTRAINT `fk_p` FOREIGN KEY (`id`) REFERENCES `p` (`id`),\n"
        "  CONSTRAINT `fk_q` FOREIGN KEY (`id`) REFERENCES `q``x` (`id`)\n)"
    )
    # A parent restored with the table stays unqualified (the shadow's); any other is the live one.
    assert mysql.qualify_references(body, database="shop", restored=["p"]) == body.replace(
        "REFERENCES `q``x`", "REFERENCES `shop`.`q``x`"
    )
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("trigger_query", ("s", ["a"]), {}),
        ("existing_tables_query", ("s", ["a"]), {}),
        ("create_database", ("d",), {}),
        ("drop_database", ("d",), {}),
        ("qualify_references", (body,), {"database": "d", "restored": []}),
    ]
    for engine in ("postgresql", "sqlite", "duckdb", "files"):
        for method, args, kwargs in calls:
            with pytest.raises(NotImplementedError):
                getattr(dialect_for(engine), method)(*args, **kwargs)


def test_in_database_copy_statements_are_postgres_only() -> None:
    postgres = dialect_for("postgresql")
    assert postgres.create_schema("pm_snapshot_1") == 'CREATE SCHEMA "pm_snapshot_1"'
    assert postgres.drop_schema("pm_snapshot_1") == 'DROP SCHEMA IF EXISTS "pm_snapshot_1" CASCADE'
    assert postgres.relation_exists_query('"s"."t"') == ("SELECT to_regclass(%s)", ('"s"."t"',))
    assert postgres.share_lock('"s"."t"') == 'LOCK TABLE "s"."t" IN SHARE MODE'
    halves = [
        f"coalesce(sum(('x' || {side}(h, 16))::bit(64)::bigint), 0)::text" for side in ("left", "right")
    ]
    assert postgres.copy_fingerprint('"s"."t"', separator=":") == (
        f"SELECT count(*), {halves[0]} || ':' || {halves[1]} "
        'FROM (SELECT md5(t::text) AS h FROM "s"."t" t) AS hashed'
    )
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("create_schema", ("s",), {}),
        ("drop_schema", ("s",), {}),
        ("relation_exists_query", ("t",), {}),
        ("share_lock", ("t",), {}),
        ("copy_fingerprint", ("t",), {"separator": ":"}),
    ]
    for engine in ("mysql", "sqlite", "duckdb", "files"):
        for method, args, kwargs in calls:
            with pytest.raises(NotImplementedError):
                getattr(dialect_for(engine), method)(*args, **kwargs)


def test_sqlite_restore_statements_run_and_defer_foreign_keys() -> None:
    dialect = dialect_for("sqlite")
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("CREATE TABLE p (id integer PRIMARY KEY, name text)")
    conn.execute("CREATE TABLE c (id integer PRIMARY KEY, name text REFERENCES p(id))")
    conn.execute("CREATE TABLE src (id integer, name text)")
    conn.execute("INSERT INTO src VALUES (7, 'seven')")
    conn.execute("BEGIN")
    for statement in dialect.restore_prelude(defer=False):
        conn.execute(statement)
    # A child row loaded before its parent: checked at COMMIT only.
    conn.execute(dialect.insert_rows('"c"', (ID, NAME), 1), (1, 7))
    conn.execute(dialect.insert_select('"p"', (ID, NAME), '"src"'))
    conn.execute("COMMIT")
    assert conn.execute("SELECT id, name FROM p").fetchall() == [(7, "seven")]
    conn.execute("BEGIN")
    conn.execute(dialect.empty_table('"c"'))
    conn.execute(dialect.empty_table('"p"'))
    conn.execute("COMMIT")
    assert conn.execute("SELECT count(*) FROM p").fetchone() == (0,)
    assert dialect.reset_sequence(sequence="s", schema=None, table='"p"', next_value=3) is None


def test_duckdb_checks_a_parents_delete_against_deleted_children() -> None:
    duckdb = pytest.importorskip("duckdb")
    dialect = dialect_for("duckdb")
    conn = duckdb.connect(":memory:")
    conn.execute("CREATE TABLE p (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE c (id INTEGER, p_id INTEGER REFERENCES p(id))")
    conn.execute("INSERT INTO p VALUES (1)")
    conn.execute("INSERT INTO c VALUES (1, 1)")
    conn.execute("BEGIN")
    conn.execute(dialect.empty_table('"c"'))
    with pytest.raises(duckdb.Error):
        conn.execute(dialect.empty_table('"p"'))
    assert dialect.checks_deleted_children


@pytest.mark.postgres
def test_postgres_restore_statements_run(pg_db: Any) -> None:
    import psycopg

    dialect = dialect_for("postgresql")
    pg_db.execute(
        "CREATE TABLE a (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, amount numeric(6,2), doc jsonb)",
        "CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a(id) DEFERRABLE)",
        "CREATE INDEX b_a_idx ON b (a_id)",
    )
    columns = (
        Column("id", "integer", F.INTEGER, nullable=False, identity=True),
        Column("amount", "numeric(6,2)", F.DECIMAL),
        Column("doc", "jsonb", F.JSON),
    )
    assert dialect.identity_override(columns) == " OVERRIDING SYSTEM VALUE"
    serial = Column("id", "integer", F.INTEGER, default="nextval('s'::regclass)", identity=True)
    assert dialect.identity_override((serial,)) == ""
    with psycopg.connect(pg_db.url) as conn:
        for statement in dialect.restore_prelude(defer=True):
            conn.execute(statement)
        for statement in dialect.lock_for_restore(['"public"."a"', '"public"."b"']):
            conn.execute(statement)
        # The child first: its foreign key is DEFERRABLE, checked at COMMIT.
        conn.execute(
            dialect.insert_rows('"public"."b"', (ID, Column("a_id", "integer", F.INTEGER)), 1), (1, 5)
        )
        # Values as a snapshot file holds them (text), cast to each column's type.
        conn.execute(dialect.insert_rows('"public"."a"', columns, 1), ("5", "12.50", '{"k": 1}'))
        sequence = dialect.reset_sequence(
            sequence="a_id_seq", schema="public", table="ignored", next_value=40
        )
        assert sequence == 'ALTER SEQUENCE "public"."a_id_seq" RESTART WITH 40'
        conn.execute(sequence)
    with psycopg.connect(pg_db.url) as conn:
        assert conn.execute("SELECT id, amount, doc FROM a").fetchall() == [(5, 12.5, {"k": 1})]
        assert conn.execute("INSERT INTO a (amount) VALUES (1) RETURNING id").fetchone() == (40,)
        assert dialect.index_ddl_query is not None and dialect.constraint_ddl_query is not None
        indexes = conn.execute(dialect.index_ddl_query, ('"public"."b"',)).fetchall()
        assert indexes == [("b_a_idx", "CREATE INDEX b_a_idx ON public.b USING btree (a_id)")]
        constraints = conn.execute(dialect.constraint_ddl_query, ('"public"."b"',)).fetchall()
        assert constraints == [
            ("b_a_id_fkey", "FOREIGN KEY (a_id) REFERENCES a(id) DEFERRABLE", "f", True),
            ("b_pkey", "PRIMARY KEY (id)", "p", False),
        ]
        conn.execute(dialect.empty_table('"public"."b"'))
        conn.execute(dialect.empty_table('"public"."a"'))
        copy = dialect.insert_select(
            '"public"."a"', columns, "(SELECT 9 AS id, 1.5 AS amount, NULL::jsonb AS doc) s"
        )
        conn.execute(copy)
        assert conn.execute("SELECT id FROM a").fetchall() == [(9,)]


@pytest.mark.mariadb
def test_mariadb_restore_statements_run(mariadb_db: Any) -> None:
    import pymysql

    dialect = dialect_for("mysql")
    mariadb_db.execute(
        "CREATE TABLE p (id int AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB",
        "CREATE TABLE c (id int PRIMARY KEY, p_id int) ENGINE=InnoDB",
        "CREATE TABLE p_new (id int AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB",
        "INSERT INTO p_new VALUES (2)",
    )
    q = dialect.quote
    db = mariadb_db.name
    add = dialect.add_foreign_key(f"{q(db)}.{q('c')}", "c_p", ("p_id",), "p", ("id",))
    mariadb_db.execute(add)
    conn = pymysql.connect(
        host="127.0.0.1", port=3306, user="root", password="", database=db, autocommit=True
    )
    try:
        with conn.cursor() as cur:
            # Checks off: a child row whose parent is not there yet.
            cur.execute(dialect.foreign_key_checks_off())
            cur.execute(dialect.insert_rows(q("c"), (ID, Column("p_id", "int", F.INTEGER)), 1), (1, 2))
            cur.execute(dialect.swap_statement([(q("p"), q("p_old")), (q("p_new"), q("p"))]))
            cur.execute("SELECT id FROM p")
            assert cur.fetchall() == ((2,),)
            reset = dialect.reset_sequence(sequence="", schema=None, table=q("p"), next_value=50)
            assert reset is not None
            cur.execute(reset)
            cur.execute("INSERT INTO p VALUES ()")
            cur.execute("SELECT max(id) FROM p")
            assert cur.fetchone() == (50,)
            query = dialect.table_ddl_query(q("c"))
            assert query is not None
            cur.execute(query)
            row = cur.fetchone()
            assert (
                row is not None
                and "CONSTRAINT `c_p` FOREIGN KEY (`p_id`) REFERENCES `p_old` (`id`)" in row[1]
            )
            # The index the foreign key needs was created under the constraint's name.
            assert dialect.names_foreign_key_index_after_constraint
            cur.execute(
                "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'c' ORDER BY 1",
                (db,),
            )
            assert cur.fetchall() == (("c_p",), ("PRIMARY",))
    finally:
        conn.close()


# One column per family, and the spellings a connector reads specially (MariaDB bit, PostgreSQL
# time with time zone): the dialect must read each as the connector does.
READS = [
    *(Column(f"c_{family.value}", family.value, family) for family in TypeFamily),
    Column("flags", "bit(8)", F.INTEGER),
    Column("at", "time with time zone", F.TIME),
    Column("at_local", "time without time zone", F.TIME),
]


def _reads_like_its_connector(url: str) -> None:
    from pm_pipeline.core.connectors import connect

    with connect(url) as connector:
        dialect = dialect_for(connector.engine)
        for column in READS:
            assert dialect.select_expression(column) == connector.select_expression(column), column
        schema = dialect.url_schema(connector.url)
        assert dialect.qualified("t", schema) == connector.qualified("t")


def test_embedded_engines_read_columns_as_their_connectors(tmp_path: Any) -> None:
    duckdb = pytest.importorskip("duckdb")
    sqlite3.connect(tmp_path / "t.db").close()
    duckdb.connect(str(tmp_path / "t.duckdb")).close()
    _reads_like_its_connector(f"sqlite:///{tmp_path / 't.db'}")
    _reads_like_its_connector(f"duckdb:///{tmp_path / 't.duckdb'}")


@pytest.mark.postgres
def test_postgres_reads_columns_as_its_connector(pg_db: Any) -> None:
    _reads_like_its_connector(pg_db.url)
    _reads_like_its_connector(pg_db.url + "?schema=sales")


@pytest.mark.mariadb
def test_mariadb_reads_columns_as_its_connector(mariadb_db: Any) -> None:
    _reads_like_its_connector(mariadb_db.url)
