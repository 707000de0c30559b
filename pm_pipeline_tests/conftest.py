"""Shared fixtures: throwaway databases on the real local PostgreSQL and MariaDB servers.

Tests that need a server skip with the reason when it is unreachable, unless
PM_REQUIRE_SERVICES=1 (as in CI), where an unreachable server fails them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

# The session's one served Dagster UI, shared by the browser test and the webserver's GraphQL test.
from pm_pipeline_tests.ui_server import ui_server  # noqa: F401

PG_HOST = os.environ.get("PM_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PM_TEST_PG_PORT", "5432"))
MY_HOST = os.environ.get("PM_TEST_MYSQL_HOST", "127.0.0.1")
MY_PORT = int(os.environ.get("PM_TEST_MYSQL_PORT", "3306"))


def _unavailable(service: str, error: Exception) -> None:
    reason = f"{service} is not reachable ({type(error).__name__}: {error})"
    if os.environ.get("PM_REQUIRE_SERVICES") == "1":
        pytest.fail(f"PM_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With ``--dist loadscope`` (`make pytest`), the project's units of work (pm_pipeline_tests/parallel.py)."""
    if config.getvalue("dist") != "loadscope":
        return None
    from pm_pipeline_tests.parallel import module_scheduler

    return module_scheduler(config, log)


@dataclass(frozen=True)
class TestDatabase:
    """A database created for one test and dropped after it."""

    name: str
    url: str

    def execute(self, *statements: str) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class PgDatabase(TestDatabase):
    def execute(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, user="postgres", dbname=self.name, autocommit=True
        ) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]

    def query(self, sql: str) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname=self.name) as conn:
            return list(conn.execute(sql).fetchall())  # type: ignore[arg-type]


@dataclass(frozen=True)
class MyDatabase(TestDatabase):
    def execute(self, *statements: str) -> None:
        import pymysql

        conn = pymysql.connect(
            host=MY_HOST, port=MY_PORT, user="root", password="", database=self.name, autocommit=True
        )
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()

    def query(self, sql: str) -> list[tuple[object, ...]]:
        import pymysql

        conn = pymysql.connect(host=MY_HOST, port=MY_PORT, user="root", password="", database=self.name)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            conn.close()


def _new_name() -> str:
    return f"pmt_{uuid.uuid4().hex[:12]}"


def make_pg_database() -> Iterator[PgDatabase]:
    import psycopg

    name = _new_name()
    try:
        admin = psycopg.connect(
            host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres", autocommit=True, connect_timeout=5
        )
    except Exception as exc:
        _unavailable(f"PostgreSQL at {PG_HOST}:{PG_PORT}", exc)
        raise
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield PgDatabase(name=name, url=f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}")
    finally:
        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres", autocommit=True
        ) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def make_mariadb_database() -> Iterator[MyDatabase]:
    import pymysql

    name = _new_name()
    try:
        admin = pymysql.connect(
            host=MY_HOST, port=MY_PORT, user="root", password="", autocommit=True, connect_timeout=5
        )
    except Exception as exc:
        _unavailable(f"MariaDB at {MY_HOST}:{MY_PORT}", exc)
        raise
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
        yield MyDatabase(name=name, url=f"mysql://root@{MY_HOST}:{MY_PORT}/{name}")
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture
def pg_db() -> Iterator[PgDatabase]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    yield from make_pg_database()


@pytest.fixture
def pg_db2() -> Iterator[PgDatabase]:
    """A second fresh PostgreSQL database (for PostgreSQL -> PostgreSQL pairs)."""
    yield from make_pg_database()


@pytest.fixture
def mariadb_db() -> Iterator[MyDatabase]:
    """A fresh, empty MariaDB database (utf8mb4), dropped afterwards."""
    yield from make_mariadb_database()
