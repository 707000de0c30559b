"""Integrity checks on a PostgreSQL -> MariaDB pair: orphans loaded with FOREIGN_KEY_CHECKS=0, rules,
temporal rules and sequences are found in MariaDB, and a clean pair checksums equal across engines."""

from __future__ import annotations

from collections import Counter

import pytest

from pm_pipeline.core.check import TablePair, compare_schema
from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.integrity import IntegrityResult, check_table_integrity, parse_integrity

pytestmark = [pytest.mark.postgres, pytest.mark.mariadb]

PG_SCHEMA = [
    "CREATE TABLE orders (id serial PRIMARY KEY, subtotal numeric(10,2) NOT NULL, "
    "created_at timestamp NOT NULL, updated_at timestamp NOT NULL, note varchar(20))",
    "CREATE TABLE order_items (id serial PRIMARY KEY, order_id int NOT NULL REFERENCES orders(id), "
    "quantity int NOT NULL, unit_price numeric(10,2) NOT NULL)",
]
MY_SCHEMA = [
    "CREATE TABLE orders (id int AUTO_INCREMENT PRIMARY KEY, subtotal decimal(10,2) NOT NULL, "
    "created_at datetime NOT NULL, updated_at datetime NOT NULL, note varchar(20)) ENGINE=InnoDB",
    "CREATE TABLE order_items (id int AUTO_INCREMENT PRIMARY KEY, order_id int NOT NULL, "
    "quantity int NOT NULL, unit_price decimal(10,2) NOT NULL, "
    "FOREIGN KEY (order_id) REFERENCES orders(id)) ENGINE=InnoDB",
]
ROWS_ORDERS = ", ".join(
    f"({i}, {3 * (i % 5 + 1)}.00, '2024-01-{1 + i % 28:02d} 10:00:00', '2024-02-{1 + i % 28:02d} 10:00:00', "
    f"{'NULL' if i % 4 == 0 else repr('n' + str(i))})"
    for i in range(1, 101)
)
ROWS_ITEMS = ", ".join(f"({i}, {i}, {i % 5 + 1}, 3.00)" for i in range(1, 101))
DATA = [f"INSERT INTO orders VALUES {ROWS_ORDERS}", f"INSERT INTO order_items VALUES {ROWS_ITEMS}"]
SETTINGS = {
    "rules": [
        {"name": "quantity_positive", "table": "order_items", "check": "quantity > 0"},
        {
            "name": "subtotal_is_sum_of_items",
            "kind": "aggregate",
            "table": "orders",
            "key": ["id"],
            "value": "subtotal",
            "child_table": "order_items",
            "child_key": ["order_id"],
            "child_value": "quantity * unit_price",
        },
    ],
    "temporal": [{"table": "orders", "created": "created_at", "updated": "updated_at"}],
}


def _check_all(source_url: str, target_url: str) -> dict[str, IntegrityResult]:
    settings = parse_integrity(SETTINGS)
    with connect(source_url) as source, connect(target_url) as target:
        return {
            table: check_table_integrity(
                source=source,
                target=target,
                mapping=TableMapping(source=table),
                settings=settings,
                source_schema=source.introspect(table),
                target_schema=target.introspect(table),
            )
            for table in ("orders", "order_items")
        }


def _found(results: dict[str, IntegrityResult]) -> Counter[tuple[str, str]]:
    return Counter((f.table, str(f.category)) for r in results.values() for f in r.findings)


def _load_source(pg_db: object, *, next_id: int = 101) -> None:
    pg_db.execute(  # type: ignore[attr-defined]
        *PG_SCHEMA,
        *DATA,
        *(
            f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), {next_id - 1})"
            for t in ("orders", "order_items")
        ),
    )


def test_clean_pair_across_engines_gives_no_findings(pg_db, mariadb_db) -> None:
    _load_source(pg_db)
    mariadb_db.execute(*MY_SCHEMA, *DATA)
    results = _check_all(pg_db.url, mariadb_db.url)
    assert _found(results) == Counter()
    entry = results["orders"].manifest_entry
    assert entry is not None and entry.source.checksum == entry.target.checksum and entry.source.rows == 100


def test_planted_defects_in_mariadb_are_found(pg_db, mariadb_db) -> None:
    _load_source(pg_db, next_id=500)  # the source's counters ran ahead (deleted rows)
    mariadb_db.execute(
        *MY_SCHEMA,
        *DATA,
        # one session: the orphan goes in with the checks off and the constraint stays declared
        "SET FOREIGN_KEY_CHECKS = 0",
        "INSERT INTO order_items VALUES (101, 777, 1, 3.00)",
        "SET FOREIGN_KEY_CHECKS = 1",
        "UPDATE order_items SET quantity = -1 WHERE id = 4",
        "UPDATE orders SET updated_at = '2023-01-01 00:00:00' WHERE id = 9",
        "UPDATE orders SET created_at = '2040-01-01 00:00:00', updated_at = '2040-01-01 00:00:00' WHERE id = 10",
    )
    results = _check_all(pg_db.url, mariadb_db.url)
    found = _found(results)
    orphans = [f for f in results["order_items"].findings if str(f.category) == "orphan_row"]
    assert [(f.key, f.target_value) for f in orphans] == [({"id": 101}, [777])]
    keys = {(f.rule, (f.key or {}).get("id")) for r in results.values() for f in r.findings}
    assert ("quantity_positive", 4) in keys
    assert ("subtotal_is_sum_of_items", 4) in keys
    assert ("updated_at >= created_at", 9) in keys
    assert found[("orders", "temporal_violation")] >= 3  # id 9 order; id 10 created and updated in the future
    assert not [category for _, category in found if category == "sequence_behind"]
    with connect(pg_db.url) as source, connect(mariadb_db.url) as target:
        behind = [
            f
            for f in compare_schema(
                TablePair.build(source=source, target=target, mapping=TableMapping(source="orders"))
            ).findings
            if str(f.category) == "sequence_behind"
        ]
    assert len(behind) == 1  # AUTO_INCREMENT 101 < source's 500: a schema finding, reported once
    assert found[("order_items", "checksum_mismatch")] == 1
