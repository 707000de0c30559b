"""Sets and lists on real engines: what a difference shows, text lists, same-engine arrays, Parquet lists, checksums and spec checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pm_pipeline.core.canonical.plan import ColumnPlan, comparison_family
from pm_pipeline.core.config.spec import ColumnRule, TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import Category, TableReconciliation
from pm_pipeline.core.integrity.checksum import recompute, table_checksum
from pm_pipeline.core.reconcile import ReconcileOptions
from pm_pipeline.core.reconcile.planning import plan_table

from .engines import Col, DuckSide, MySide, Pair, ParquetSide, PgSide

STRATEGIES = ("arrow", "pushdown", "bucket")
SET_ROWS = [(1, "a,b"), (2, "a,b,c"), (3, ""), (4, None), (5, "d e")]
ARRAY_ROWS = [(1, ["b", "a"]), (2, ["c", "a", "b"]), (3, []), (4, None), (5, ["d e"])]


def _changed(result: TableReconciliation) -> dict[int, Any]:
    return {f.key["id"]: f for f in result.findings if f.category is Category.VALUE_MISMATCH and f.key}


def _set_pair(mariadb_db: Any, pg_db: Any, target_rows: list[tuple[int, Any]]) -> Pair:
    pair = Pair("mariadb->postgres", MySide(mariadb_db.url), PgSide(pg_db.url))
    pair.source.create("tagged", [Col("id", "int"), Col("tags", "tags")], SET_ROWS, key=["id"])
    pair.target.create("tagged", [Col("id", "int"), Col("tags", "tags")], target_rows, key=["id"])
    return pair


@pytest.mark.mariadb
@pytest.mark.postgres
def test_a_lost_set_member_shows_raw_and_canonical_values_and_the_set_rule(
    mariadb_db: Any, pg_db: Any
) -> None:
    # The loader dropped the last member of one SET while writing text[].
    target = [*ARRAY_ROWS[:1], (2, ["c", "a"]), *ARRAY_ROWS[2:]]
    pair = _set_pair(mariadb_db, pg_db, target)
    for strategy in STRATEGIES:
        result = pair.reconcile(
            TableMapping(source="tagged", key=["id"]), options=ReconcileOptions(strategy=strategy)
        )
        assert result.strategy == strategy, result.strategy_note
        changed = _changed(result)
        assert list(changed) == [2], strategy
        finding = changed[2]
        assert (finding.source_value, finding.target_value) == ("a,b,c", "{c,a}")
        assert (finding.source_canonical, finding.target_canonical) == ('["a","b","c"]', '["a","c"]')
        assert finding.rule == "set"
        assert finding.message == "the target lacks 1 and adds 0 element(s) (compared as a set)"


@pytest.mark.mariadb
@pytest.mark.postgres
def test_a_correct_set_migration_has_equal_checksums(mariadb_db: Any, pg_db: Any) -> None:
    # The manifest's families record the set rule, so a recomputation from the manifest agrees too.
    _set_pair(mariadb_db, pg_db, ARRAY_ROWS)
    with connect(mariadb_db.url) as source, connect(pg_db.url) as target:
        plan = plan_table(
            mapping=TableMapping(source="tagged", key=["id"]),
            source=source.introspect("tagged"),
            target=target.introspect("tagged"),
        )
        sums = [
            table_checksum(connector, table="tagged", plans=plan.all_plans, side=side)
            for connector, side in ((source, "source"), (target, "target"))
        ]
        assert sums[0].checksum == sums[1].checksum
        assert sums[1].families == ("integer", "set:unordered")
        assert recompute(target, sums[1].to_json()).checksum == sums[1].checksum


@pytest.mark.mariadb
@pytest.mark.postgres
def test_mariadb_text_lists_against_arrays(mariadb_db: Any, pg_db: Any) -> None:
    # Tags a MariaDB application kept as 'a;b' text, migrated to text[]. In order, MariaDB writes
    # the list in SQL; as a set it cannot sort it, so bucket checksums step back and say why.
    pair = Pair("mariadb->postgres", MySide(mariadb_db.url), PgSide(pg_db.url))
    source = [(1, "a;b"), (2, "a"), (3, ""), (4, None), (5, "b;a")]
    target = [(1, ["a", "b"]), (2, ["a", "c"]), (3, []), (4, None), (5, ["a", "b"])]
    pair.source.create("csv", [Col("id", "int"), Col("tags", "text")], source, key=["id"])
    pair.target.create("csv", [Col("id", "int"), Col("tags", "tags")], target, key=["id"])
    for order, differ, rule in (("ordered", [2, 5], "ordered_list"), ("unordered", [2], "set")):
        declared = ColumnRule.model_validate({"list_separator": ";", "list_order": order})
        mapping = TableMapping(source="csv", key=["id"], columns={"tags": declared})
        for strategy in STRATEGIES:
            result = pair.reconcile(mapping, options=ReconcileOptions(strategy=strategy, bucket_rows=2))
            assert sorted(_changed(result)) == differ, (order, strategy)
            assert _changed(result)[2].rule == rule
            assert "lacks 0 and adds 1" in _changed(result)[2].message
            if strategy == "bucket" and order == "unordered":
                assert result.strategy == "pushdown" and "tags" in result.strategy_note
            else:
                assert result.strategy == strategy, result.strategy_note


@pytest.mark.postgres
def test_same_engine_arrays_declared_unordered_ignore_order(pg_db: Any, pg_db2: Any) -> None:
    # Identical column types let the engine hash its own arrays, which see order: the rows it
    # flags must still compare equal as sets.
    pair = Pair("postgres->postgres", PgSide(pg_db.url), PgSide(pg_db2.url))
    pair.source.create(
        "ids", [Col("id", "int"), Col("v", "ints")], [(1, [1, 2]), (2, [3]), (3, [5, 5])], key=["id"]
    )
    pair.target.create(
        "ids", [Col("id", "int"), Col("v", "ints")], [(1, [2, 1]), (2, [3, 4]), (3, [5])], key=["id"]
    )
    mapping = TableMapping(source="ids", key=["id"], columns={"v": ColumnRule(list_order="unordered")})
    for strategy in STRATEGIES:
        result = pair.reconcile(mapping, options=ReconcileOptions(strategy=strategy, bucket_rows=1))
        assert result.strategy == strategy, result.strategy_note
        assert list(_changed(result)) == [2], strategy


def test_parquet_lists_match_duckdb_lists(tmp_path: Path) -> None:
    # A lake export of a list column: Arrow lists in Parquet against DuckDB INTEGER[] / VARCHAR[].
    pair = Pair("parquet->duckdb", ParquetSide(tmp_path / "lake"), DuckSide(tmp_path / "t.duckdb"))
    columns = [Col("id", "int"), Col("v", "ints"), Col("t", "tags")]
    rows = [(1, [1, 2], ["x", "y z"]), (2, [], []), (3, None, None), (4, [None, 3], ["é", None])]
    pair.source.create("lists", columns, rows, key=["id"])
    pair.target.create("lists", columns, [*rows[:3], (4, [3, None], ["é", None])], key=["id"])
    for strategy in ("arrow", "pushdown"):
        result = pair.reconcile(
            TableMapping(source="lists", key=["id"]), options=ReconcileOptions(strategy=strategy)
        )
        assert {(k, f.column) for k, f in _changed(result).items()} == {(4, "v")}, strategy


def _column(connector_url: str, table: str, name: str) -> Any:
    with connect(connector_url) as connector:
        return connector.introspect(table).column(name)


def test_list_options_on_a_pair_without_lists_are_bad_input(tmp_path: Path) -> None:
    pair = Pair("duckdb->duckdb", DuckSide(tmp_path / "s.duckdb"), DuckSide(tmp_path / "t.duckdb"))
    for side in (pair.source, pair.target):
        side.create("plain", [Col("id", "int"), Col("n", "int")], [(1, 2)], key=["id"])
    mapping = TableMapping(source="plain", key=["id"], columns={"n": ColumnRule(list_order="unordered")})
    with pytest.raises(BadInputError, match=r"column n .*'list_order'"):
        pair.reconcile(mapping)
    with pytest.raises(ValidationError, match="list_separator"):
        ColumnRule.model_validate({"list_separator": ",", "json": True})
    with pytest.raises(ValidationError):
        ColumnRule.model_validate({"list_separator": ""})
    with pytest.raises(ValidationError):
        ColumnRule.model_validate({"list_order": "sorted"})


def test_rule_labels_name_the_comparison(tmp_path: Path) -> None:
    pair = Pair("duckdb->duckdb", DuckSide(tmp_path / "s.duckdb"), DuckSide(tmp_path / "t.duckdb"))
    pair.source.create("labels", [Col("id", "int"), Col("v", "ints")], [], key=["id"])
    column = _column(pair.source.url, "labels", "v")
    assert column.element is not None and column.element.data_type == "INTEGER"
    for rule, label in (
        (ColumnRule(), "ordered_list"),
        (ColumnRule(list_order="unordered", trim=True), "set+trim"),
    ):
        family = comparison_family(column, column, rule)
        plan = ColumnPlan(
            source=column, target=column, family=family, rule=rule, source_zone="UTC", target_zone="UTC"
        )
        assert plan.rule_label == label
