"""Array and list columns as the connectors introspect them: the element each holds, and what stays OTHER."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pm_pipeline.core.connectors import connect
from pm_pipeline.core.connectors.schema import TypeFamily
from pm_pipeline.core.rollback.snapshot import _schema_from_json, _schema_to_json

F = TypeFamily


@pytest.mark.postgres
def test_postgres_arrays_carry_their_element(pg_db: Any) -> None:
    pg_db.execute(
        "CREATE DOMAIN code AS varchar(5)",
        "CREATE TABLE arrays (id int PRIMARY KEY, tags text[], names varchar(10)[], amounts numeric(8,2)[], "
        "grid integer[][], codes code[], plain text)",
    )
    with connect(pg_db.url) as connector:
        schema = connector.introspect("arrays")
    elements = {c.name: c.element for c in schema.columns}
    assert all(
        c.family is F.OTHER for c in schema.columns if c.element is not None
    )  # schema checks unchanged
    assert elements["plain"] is None and elements["id"] is None
    assert (elements["tags"].family, elements["tags"].data_type) == (F.TEXT, "text")
    assert (elements["names"].family, elements["names"].length) == (F.TEXT, 10)
    assert (elements["amounts"].family, elements["amounts"].precision, elements["amounts"].scale) == (
        F.DECIMAL,
        8,
        2,
    )
    # PostgreSQL does not enforce declared dimensions: int[][] is an int array like any other.
    assert elements["grid"].family is F.INTEGER
    # An array of a domain holds the domain's base type.
    assert elements["codes"].family is F.TEXT
    # A rollback snapshot stores the schema as JSON and reads the elements back as columns.
    assert _schema_from_json(json.loads(json.dumps(_schema_to_json(schema)))).columns == schema.columns


def test_duckdb_lists_and_arrays_carry_their_element(tmp_path: Path) -> None:
    path = tmp_path / "lists.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "CREATE TABLE lists (id INTEGER, ints INTEGER[], names VARCHAR[], fixed DOUBLE[3], "
            "nested INTEGER[][], rows STRUCT(a INTEGER)[])"
        )
    with connect(f"duckdb:///{path}") as connector:
        columns = {c.name: c for c in connector.introspect("lists").columns}
    assert columns["ints"].element is not None and columns["ints"].element.family is F.INTEGER
    assert columns["names"].element is not None and columns["names"].element.family is F.TEXT
    assert columns["fixed"].element is not None and columns["fixed"].element.family is F.FLOAT
    # Lists of lists have no one-dimensional element: they stay OTHER, compared as text.
    assert columns["nested"].element is None and columns["nested"].family is F.OTHER
    assert columns["rows"].element is not None and columns["rows"].element.family is F.OTHER
    assert columns["id"].element is None


def test_parquet_list_columns_carry_their_element(tmp_path: Path) -> None:
    folder = tmp_path / "lake"
    folder.mkdir()
    table = pa.table({"id": [1], "tags": pa.array([["a"]], pa.list_(pa.string())), "n": [[1]]})
    pq.write_table(table, folder / "tagged.parquet")
    with connect(f"parquet:///{folder}") as connector:
        columns = {c.name: c for c in connector.introspect("tagged").columns}
    assert columns["tags"].element is not None and columns["tags"].element.family is F.TEXT
    assert columns["n"].element is not None and columns["n"].element.family is F.INTEGER
