"""A large MariaDB side is read one primary-key range per query; the findings are the same."""

from __future__ import annotations

from typing import Any

import pytest

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.connectors.mysql import MySqlConnector
from pm_pipeline.core.reconcile import ReconcileOptions, reconcile_table, sides
from pm_pipeline_tests.conftest import MyDatabase, PgDatabase

pytestmark = [pytest.mark.mariadb, pytest.mark.postgres]

# Dense, sparse and far-apart ids: range widths must adapt without losing or repeating a row.
IDS = [*range(1, 41), *range(1000, 1012), *range(10**12, 10**12 + 6), 2**62]


def _rows(ids: list[int], *, edit: int | None = None) -> str:
    return ", ".join(f"({i}, 'v{i}{'x' if i == edit else ''}', '2024-01-0{1 + i % 9} 10:00:00')" for i in ids)


def _run(source_url: str, target_url: str, partition: tuple[int, int] | None = None) -> Any:
    with connect(source_url) as source, connect(target_url) as target:
        return reconcile_table(
            source=source,
            target=target,
            mapping=TableMapping(source="items", key=["id"]),
            options=ReconcileOptions(partition=partition),
        )


def _summary(result: Any) -> tuple[Any, ...]:
    keys = sorted((f.category.value, str(f.key), f.column or "") for f in result.findings)
    return (
        result.source_rows,
        result.target_rows,
        result.missing_rows,
        result.extra_rows,
        result.changed_rows,
        keys,
    )


@pytest.mark.parametrize("partition", [None, (1, 3)])
def test_range_reads_give_the_whole_table_once(
    mariadb_db: MyDatabase,
    pg_db: PgDatabase,
    monkeypatch: pytest.MonkeyPatch,
    partition: tuple[int, int] | None,
) -> None:
    mariadb_db.execute(
        "CREATE TABLE items (id BIGINT PRIMARY KEY, v VARCHAR(20), at DATETIME)",
        f"INSERT INTO items VALUES {_rows(IDS)}",
    )
    target_ids = [i for i in IDS if i not in (7, 1005)] + [10**12 + 100]
    pg_db.execute(
        "CREATE TABLE items (id BIGINT PRIMARY KEY, v VARCHAR(20), at TIMESTAMP)",
        f"INSERT INTO items VALUES {_rows(target_ids, edit=10**12 + 2)}",
    )
    whole = _run(mariadb_db.url, pg_db.url, partition)

    queries: list[str] = []
    original = MySqlConnector.stream_query

    def counted(self: MySqlConnector, sql: str, *args: Any, **kwargs: Any) -> Any:
        queries.append(sql)
        return original(self, sql, *args, **kwargs)

    monkeypatch.setattr(sides, "RANGE_ROWS", 5)
    monkeypatch.setattr(sides, "RANGED_TABLE_ROWS", 10)
    monkeypatch.setattr(MySqlConnector, "stream_query", counted)
    ranged = _run(mariadb_db.url, pg_db.url, partition)

    ranges = [sql for sql in queries if "`items` WHERE" in sql and "`id` >= " in sql]
    assert len(ranges) > 5  # the table really was read range by range
    assert _summary(ranged) == _summary(whole)
    if partition is None:
        assert (whole.source_rows, whole.missing_rows, whole.extra_rows, whole.changed_rows) == (
            len(IDS),
            2,
            1,
            1,
        )


def test_small_tables_and_other_keys_are_read_in_one_query(
    mariadb_db: MyDatabase, pg_db: PgDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A text key has no ranges to read by: one query, whatever the size.
    mariadb_db.execute(
        "CREATE TABLE items (id VARCHAR(20) PRIMARY KEY, v VARCHAR(20), at DATETIME)",
        f"INSERT INTO items VALUES {_rows(IDS)}",
    )
    pg_db.execute(
        "CREATE TABLE items (id VARCHAR(20) PRIMARY KEY, v VARCHAR(20), at TIMESTAMP)",
        f"INSERT INTO items VALUES {_rows(IDS)}",
    )
    monkeypatch.setattr(sides, "RANGE_ROWS", 5)
    monkeypatch.setattr(sides, "RANGED_TABLE_ROWS", 10)
    with connect(mariadb_db.url) as source:
        schema = source.introspect("items")
        readers = sides.make_readers(sides_plan(schema), source, source, schema, schema)
        assert sides._range_key(readers[0], sides_plan(schema)) is None
    assert _run(mariadb_db.url, pg_db.url).findings == ()


def sides_plan(schema: Any) -> Any:
    from pm_pipeline.core.reconcile.planning import plan_table

    return plan_table(
        mapping=TableMapping(source="items", key=["id"]),
        source=schema,
        target=schema,
        source_zone="UTC",
        target_zone="UTC",
    )
