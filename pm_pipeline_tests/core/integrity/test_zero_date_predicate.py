"""MariaDB's zero-date test (a date or datetime read as a number) holds on exactly the rows whose
text starts with '0000-00-00', the definition every other engine uses."""

from __future__ import annotations

import pymysql
import pytest

from pm_pipeline.core.dialects.base import Dialect
from pm_pipeline.core.dialects.mysql import MySqlDialect

pytestmark = pytest.mark.mariadb

VALUES = [
    ("0000-00-00", "0000-00-00 00:00:00"),
    ("0000-00-00", "0000-00-00 23:59:59.999999"),
    ("0000-00-00", "0000-00-00 00:00:00.000001"),
    ("0000-00-01", "0000-00-01 00:00:00"),
    ("0000-01-00", "0000-01-00 00:00:00"),
    ("0000-01-01", "0000-01-01 00:00:00"),
    ("2024-00-10", "2024-00-10 12:00:00"),
    ("2024-05-00", "2024-05-00 00:00:00"),
    ("1000-01-01", "1000-01-01 00:00:00"),
    ("2024-02-29", "2024-02-29 13:14:15.123456"),
    ("9999-12-31", "9999-12-31 23:59:59.999999"),
    (None, None),
]


@pytest.mark.parametrize("family,column", [("date", "d"), ("timestamp", "t"), ("timestamptz", "z")])
def test_numeric_zero_date_test_matches_the_text_one(mariadb_db, family: str, column: str) -> None:
    numeric = MySqlDialect().is_zero_date(f"`{column}`", family)
    text = Dialect.is_zero_date(MySqlDialect(), f"`{column}`", family)
    assert numeric != text  # the cheaper form is in use for this family
    conn = pymysql.connect(
        host="127.0.0.1", port=3306, user="root", database=mariadb_db.name, autocommit=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = ''")  # the legacy mode that let zero dates in
            cur.execute("SET time_zone = '+00:00'")
            cur.execute("CREATE TABLE z (id INT PRIMARY KEY, d DATE, t DATETIME(6), z TIMESTAMP(6) NULL)")
            for index, (day, instant) in enumerate(VALUES):
                stamp = (
                    instant
                    if instant is None or instant[:4] >= "1970" or instant.startswith("0000-00-00")
                    else None
                )
                cur.execute("INSERT INTO z VALUES (%s, %s, %s, %s)", (index, day, instant, stamp))
            cur.execute(f"SELECT id, {numeric}, {text}, CAST(`{column}` AS CHAR) FROM z ORDER BY id")
            rows = cur.fetchall()
    finally:
        conn.close()
    zero_rows = [row for row in rows if row[2]]
    assert zero_rows, "the table holds zero dates"
    assert [row for row in rows if bool(row[1]) != bool(row[2])] == []
    assert [(row[1], row[2]) for row in rows if row[3] is None] == [(None, None)] * len(
        [row for row in rows if row[3] is None]
    )
