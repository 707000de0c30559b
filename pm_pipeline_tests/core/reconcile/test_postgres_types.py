"""PostgreSQL -> PostgreSQL with uuid, jsonb and numeric columns: equal data is clean, a changed document or id is found."""

from __future__ import annotations

from typing import Any

import pytest

from pm_pipeline.core.config.spec import TableMapping

from .engines import Pair, PgSide

pytestmark = pytest.mark.postgres

DDL = "CREATE TABLE {name} (id int PRIMARY KEY, ref uuid, doc jsonb, amount numeric(14,4))"


def test_uuid_json_numeric(pg_db: Any, pg_db2: Any) -> None:
    pg_db.execute(
        DDL.format(name="t"),
        "INSERT INTO t VALUES (1, '12345678-9abc-def0-1234-56789abcdef0', '{\"b\": 1, \"a\": [1, 2]}', 1.5),"
        " (2, NULL, NULL, NULL)",
    )
    pg_db2.execute(
        DDL.format(name="t"),
        "INSERT INTO t VALUES (1, '12345678-9ABC-DEF0-1234-56789ABCDEF0', '{\"a\": [1, 2], \"b\": 1}', 1.5000),"
        " (2, NULL, NULL, NULL)",
        DDL.format(name="changed"),
        # The document's array was re-ordered by a loader that sorted it: that is a change.
        "INSERT INTO changed VALUES (1, '12345678-9abc-def0-1234-56789abcdef1', '{\"a\": [2, 1], \"b\": 1}', 1.5),"
        " (2, NULL, NULL, NULL)",
    )
    pair = Pair("postgres->postgres", PgSide(pg_db.url), PgSide(pg_db2.url))
    assert pair.reconcile(TableMapping(source="t")).findings == ()
    changed = pair.reconcile(TableMapping(source="t", target="changed"))
    assert sorted((f.column, f.key) for f in changed.findings) == [("doc", {"id": 1}), ("ref", {"id": 1})]
