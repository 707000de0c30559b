"""Bucket pruning before the join (``join._differing_buckets``): the same answer as joining every row."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pm_pipeline.core.config.spec import ColumnRule, TableMapping
from pm_pipeline.core.reconcile.engine import ReconcileOptions, TableReconciliation

from .engines import Col, DuckSide, Pair, PgSide
from .test_property import COLUMNS, tables_and_edits

_names = itertools.count()
PRUNED = ReconcileOptions(prune_rows=1)  # every stash is compared by buckets first
JOINED = ReconcileOptions(prune_rows=10**12)  # every row is joined


def _answer(result: TableReconciliation) -> dict[str, Any]:
    fields = dataclasses.asdict(result)
    for timing in ("seconds", "started_at", "finished_at"):
        fields.pop(timing)
    fields["findings"] = sorted(map(repr, result.findings))
    return fields


def _both(pair: Pair, mapping: TableMapping) -> tuple[dict[str, Any], dict[str, Any]]:
    return _answer(pair.reconcile(mapping, options=PRUNED)), _answer(pair.reconcile(mapping, options=JOINED))


@st.composite
def with_noise(draw: st.DrawFn) -> tuple[dict[int, Any], dict[int, Any]]:
    """Random edits, plus float noise far below the default tolerance on some target rows."""
    source, target = draw(tables_and_edits(max_rows=60))
    for key in draw(st.lists(st.sampled_from(sorted(target) or [0]), max_size=5)):
        if key in target and target[key][3]:
            row = list(target[key])
            row[3] = row[3] * (1 + 1e-13)
            target[key] = tuple(row)
    return source, target


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=with_noise())
def test_pruned_join_gives_the_answer_of_the_full_join(
    tmp_path: Path, data: tuple[dict[int, Any], dict[int, Any]]
) -> None:
    source, target = data
    name = f"t{next(_names)}"
    pair = Pair("duckdb->duckdb", DuckSide(tmp_path / "s.duckdb"), DuckSide(tmp_path / "t.duckdb"))
    pair.source.create(name, COLUMNS, list(source.values()), key=["id"])
    pair.target.create(name, COLUMNS, list(target.values()), key=["id"])
    pruned, joined = _both(pair, TableMapping(source=name, key=["id"]))
    assert pruned == joined


def test_pruned_buckets_keep_rule_counts_and_tolerance_statistics(tmp_path: Path) -> None:
    # 4,000 rows, so that most of the 1,024 buckets are equal and left out of the join.
    columns = [Col("id", "int"), Col("name", "text"), Col("ratio", "float"), Col("spare", "float")]
    rows = [(i, f"name {i}", i / 8, None) for i in range(4_000)]
    edited = list(rows)
    edited[10] = (10, "NAME 10", 10 / 8, None)  # equal only under case_insensitive
    edited[20] = (20, "name 20", 20 / 8 * (1 + 1e-13), None)  # float noise: equal under the tolerance
    edited[30] = (30, "changed", 30 / 8, None)
    del edited[40]
    pair = Pair("duckdb->duckdb", DuckSide(tmp_path / "s.duckdb"), DuckSide(tmp_path / "t.duckdb"))
    pair.source.create("t", columns, rows, key=["id"])
    pair.target.create("t", columns, edited, key=["id"])
    mapping = TableMapping(source="t", key=["id"], columns={"name": ColumnRule(case_insensitive=True)})
    pruned, joined = _both(pair, mapping)
    assert pruned == joined
    assert (pruned["missing_rows"], pruned["changed_rows"], pruned["matched_rows"]) == (1, 1, 3_999)
    stats = {column["column"]: column for column in pruned["columns"]}
    assert sum(stats["name"]["equal_under_rule"].values()) == 1
    assert sum(stats["ratio"]["equal_under_rule"].values()) == 1
    assert 0 < stats["ratio"]["max_abs_diff"] < 1e-9
    assert stats["spare"]["max_abs_diff"] is None  # only NULLs: no difference to measure, pruned or not


def test_most_buckets_differing_joins_every_row(tmp_path: Path) -> None:
    # Every row changed: pruning would keep every bucket, so the join reads the stashes whole.
    columns = [Col("id", "int"), Col("name", "text")]
    pair = Pair("duckdb->duckdb", DuckSide(tmp_path / "s.duckdb"), DuckSide(tmp_path / "t.duckdb"))
    pair.source.create("t", columns, [(i, "a") for i in range(3_000)], key=["id"])
    pair.target.create("t", columns, [(i, "b") for i in range(3_000)], key=["id"])
    pruned, joined = _both(pair, TableMapping(source="t", key=["id"]))
    assert pruned == joined and pruned["changed_rows"] == 3_000


@pytest.mark.postgres
def test_pruned_join_on_postgres_with_a_composite_text_key(pg_db: Any, pg_db2: Any) -> None:
    columns = [Col("region", "text"), Col("n", "int"), Col("amount", "dec")]
    rows = [(f"r{i % 7}", i, i) for i in range(2_500)]
    edited = [row for row in rows if row[1] != 5] + [("r9", 9_999, 1)]
    edited[100] = (edited[100][0], edited[100][1], 12345)
    pair = Pair("postgres->postgres", PgSide(pg_db.url), PgSide(pg_db2.url))
    pair.source.create("t", columns, rows, key=["region", "n"])
    pair.target.create("t", columns, edited, key=["region", "n"])
    pruned, joined = _both(pair, TableMapping(source="t", key=["region", "n"]))
    assert pruned == joined
    assert (pruned["missing_rows"], pruned["extra_rows"], pruned["changed_rows"]) == (1, 1, 1)
