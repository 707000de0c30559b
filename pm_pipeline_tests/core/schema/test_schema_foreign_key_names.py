"""Foreign-key parity in the run's names: parent tables and columns renamed by the spec or by
convention match, and a target foreign key to another parent or other parent columns does not."""

from __future__ import annotations

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors.schema import Column, ForeignKey, TableSchema, TypeFamily
from pm_pipeline.core.findings import Category, Finding
from pm_pipeline.core.names import RunNames, run_names
from pm_pipeline.core.schema import compare_schemas


def _table(name: str, columns: tuple[str, ...], *fks: ForeignKey) -> TableSchema:
    return TableSchema(
        name,
        tuple(Column(c, "integer", TypeFamily.INTEGER, nullable=False) for c in columns),
        primary_key=columns[:1],
        foreign_keys=fks,
    )


SOURCE = _table("Orders", ("OrderId", "TypeId"), ForeignKey("fk", ("TypeId",), "OrderType", ("TypeId",)))
MAPPING = TableMapping(source="Orders", target="orders", renames={"OrderId": "order_id", "TypeId": "type_id"})


def _lost(target: TableSchema, names: RunNames | None = None) -> list[Finding]:
    result = compare_schemas(
        table="Orders", source=SOURCE, target=target, source_engine="mysql", target_engine="postgresql",
        mapping=MAPPING, names=names,
    )  # fmt: skip
    return [f for f in result.findings if f.category is Category.FOREIGN_KEY_MISSING]


def test_a_parent_renamed_by_convention_matches_without_any_mapping() -> None:
    # Bug: the parent was looked for as 'ordertype' while the target table is 'order_type'.
    target = _table(
        "orders", ("order_id", "type_id"), ForeignKey("f", ("type_id",), "order_type", ("type_id",))
    )
    assert _lost(target) == []


def test_a_parent_with_renamed_columns_matches_through_the_run_names() -> None:
    parent = TableMapping(source="OrderType", target="kinds", renames={"TypeId": "kind_no"})
    names = run_names(
        [MAPPING, parent], {"OrderType": (_table("OrderType", ("TypeId",)), _table("kinds", ("kind_no",)))}
    )
    target = _table("orders", ("order_id", "type_id"), ForeignKey("f", ("type_id",), "kinds", ("kind_no",)))
    assert _lost(target, names) == []
    # The same columns pointing at other parent columns is a different relation: the source's is lost.
    elsewhere = _table(
        "orders", ("order_id", "type_id"), ForeignKey("f", ("type_id",), "kinds", ("legacy_no",))
    )
    [lost] = _lost(elsewhere, names)
    assert lost.message == (
        "foreign key (type_id) -> kinds(kind_no) is missing in the target; orphan rows can now be stored"
    )


def test_a_foreign_key_to_another_table_is_missing() -> None:
    target = _table(
        "orders", ("order_id", "type_id"), ForeignKey("f", ("type_id",), "order_state", ("type_id",))
    )
    [lost] = _lost(target)
    assert lost.column == "TypeId"
