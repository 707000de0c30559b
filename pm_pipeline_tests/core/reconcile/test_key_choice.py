"""Which columns identify a row when the spec names no key: the source's primary key, else the
target's one spelled in source names, and ``key: []`` for an explicit multiset compare."""

from __future__ import annotations

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors.schema import Column, TableSchema, TypeFamily
from pm_pipeline.core.reconcile.planning import plan_table


def _schema(name: str, columns: tuple[str, ...], primary_key: tuple[str, ...] = ()) -> TableSchema:
    return TableSchema(
        name, tuple(Column(c, "integer", TypeFamily.INTEGER) for c in columns), primary_key=primary_key
    )


def _keys(mapping: TableMapping, source: TableSchema, target: TableSchema) -> list[str]:
    return [plan.name for plan in plan_table(mapping=mapping, source=source, target=target).keys]


def test_source_primary_key_wins():
    source = _schema("t", ("id", "code"), ("id",))
    target = _schema("t", ("id", "code"), ("code",))
    assert _keys(TableMapping(source="t"), source, target) == ["id"]


def test_a_keyless_source_borrows_the_target_primary_key_through_renames_and_case():
    # Parquet files and keyless legacy tables: compared as a multiset, float noise in the last
    # digit made every row one missing and one extra row; the target's key pairs them instead.
    source = _schema("Customers", ("CustomerId", "Region", "Score"))
    target = _schema("customers", ("customer_id", "region", "score"), ("customer_id", "region"))
    mapping = TableMapping(source="Customers", target="customers", renames={"CustomerId": "customer_id"})
    assert _keys(mapping, source, target) == ["CustomerId", "Region"]


def test_a_target_key_the_source_cannot_spell_leaves_a_multiset():
    source = _schema("t", ("a", "b"))
    target = _schema("t", ("id", "a", "b"), ("id",))
    assert _keys(TableMapping(source="t"), source, target) == []


def test_an_ignored_column_is_never_borrowed_as_key():
    source = _schema("t", ("id", "a"))
    target = _schema("t", ("id", "a"), ("id",))
    assert _keys(TableMapping(source="t", ignore=["id"]), source, target) == []


def test_an_empty_key_asks_for_a_multiset_compare():
    source = _schema("t", ("id", "a"), ("id",))
    target = _schema("t", ("id", "a"), ("id",))
    assert _keys(TableMapping(source="t", key=[]), source, target) == []
