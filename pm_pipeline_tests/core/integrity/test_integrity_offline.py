"""The integrity spec section's validation, and checksums a third party can recompute with the documented snippet."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from pm_pipeline.core.config.integrity import AggregateRule, RowRule
from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.errors import SpecError
from pm_pipeline.core.integrity import parse_integrity, verify_manifest, write_manifest
from pm_pipeline.core.integrity.checksum import ManifestEntry, checksummed, table_checksum
from pm_pipeline.core.reconcile.planning import plan_table


def documented_checksum(rows: list[list[object]]) -> str:
    """The snippet from docs/readme/integrity.md, verbatim."""
    total = 0
    for values in rows:
        text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
        total += int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")
    return f"{total % 2**256:064x}"


@pytest.mark.parametrize(
    ("data", "path", "problem"),
    [
        ({"rules": [{"name": "q", "table": "t"}]}, "integrity.rules[0].check", "required key is missing"),
        ({"rules": [{"kind": "sum", "name": "q"}]}, "integrity.rules[0]", "kind must be"),
        ({"gx": {"enabeld": True}}, "integrity.gx.enabeld", "unknown key"),
        ({"future_skew": "soon"}, "integrity.future_skew", "expected a duration"),
        (
            {
                "foreign_keys": [
                    {"table": "a", "columns": ["x", "y"], "ref_table": "b", "ref_columns": ["id"]}
                ]
            },
            "integrity.foreign_keys[0]",
            "same number of columns",
        ),
        ({"temporal": [{"table": "a"}]}, "integrity.temporal[0]", "at least one"),
    ],
)
def test_bad_section_names_its_key_path(data: dict[str, object], path: str, problem: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_integrity(data, file="spec.yaml")
    assert caught.value.path == path
    assert problem in caught.value.problem
    assert str(caught.value).startswith("spec.yaml: ")


def test_rules_default_to_row_and_aggregate_is_recognised() -> None:
    settings = parse_integrity(
        {
            "rules": [
                {"name": "q", "table": "items", "check": "quantity > 0"},
                {
                    "name": "s",
                    "kind": "aggregate",
                    "table": "orders",
                    "key": ["id"],
                    "value": "subtotal",
                    "child_table": "items",
                    "child_key": ["order_id"],
                    "child_value": "quantity",
                },
            ],
            "cutover_at": "2025-01-01T00:00:00",
        }
    )
    assert [type(rule) for rule in settings.rules] == [RowRule, AggregateRule]
    assert settings.rules_for("items")[0].name == "q"
    assert settings.latest_allowed().isoformat() == "2025-01-01T00:00:00+00:00"


def test_documented_snippet_recomputes_a_connector_checksum(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, city TEXT)")
        conn.executemany(
            "INSERT INTO people VALUES (?, ?, ?)",
            [(1, "Zoë", "Paris"), (2, "Ann", None), (3, "Ann", None), (4, 'quote"d', "Köln")],
        )
    with connect(f"sqlite:///{db}") as connector:
        schema = connector.introspect("people")
        plan = plan_table(mapping=TableMapping(source="people"), source=schema, target=schema)
        kept, left = checksummed(plan.all_plans)
        computed = table_checksum(connector, table="people", plans=kept, side="source", batch_rows=2)
        entry = ManifestEntry(
            "people", computed, table_checksum(connector, table="people", plans=kept, side="target")
        )
    assert left == []
    rows = [[1, "Zoë", "Paris"], [2, "Ann", None], [3, "Ann", None], [4, 'quote"d', "Köln"]]
    assert computed.checksum == documented_checksum(rows)
    assert computed.checksum == documented_checksum(list(reversed(rows)))  # order independent
    # two equal rows do not cancel out (they would under XOR)
    assert documented_checksum([[2, "Ann", None], [2, "Ann", None]]) != documented_checksum([])

    manifest = write_manifest(str(tmp_path / "manifest.json"), entries=[entry])
    assert verify_manifest(manifest) == []
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE people SET city = 'Lyon' WHERE id = 1")
    changed = verify_manifest(manifest)
    assert [(f.table, str(f.category), f.rule) for f in changed] == [
        ("people", "checksum_mismatch", "manifest source"),
        ("people", "checksum_mismatch", "manifest target"),
    ]


def test_duckdb_target_runs_the_suite_as_our_own_sql(tmp_path: Path) -> None:
    import duckdb

    from pm_pipeline.core.integrity.expectations import run_expectations

    for name, extra in (("source", ""), ("target", "UPDATE items SET status = 'lost' WHERE id = 7")):
        conn = duckdb.connect(str(tmp_path / f"{name}.duckdb"))
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, status VARCHAR NOT NULL)")
        conn.execute("INSERT INTO items SELECT g, ['new', 'paid'][1 + g % 2] FROM range(1, 101) t(g)")
        if extra:
            conn.execute(extra)
        conn.close()
    with (
        connect(f"duckdb:///{tmp_path / 'source.duckdb'}") as source,
        connect(f"duckdb:///{tmp_path / 'target.duckdb'}") as target,
    ):
        run = run_expectations(
            source=source,
            target=target,
            mapping=TableMapping(source="items"),
            settings=parse_integrity({}),
            source_schema=source.introspect("items"),
            target_schema=target.introspect("items"),
        )
    assert run.runner == "sql"
    assert [(f.column, f.target_value) for f in run.findings] == [("status", ["lost"])]
    assert run.evaluated >= 4
