"""Property: every strategy (arrow, pushdown, bucket) and every partitioning reports the same findings.

Random tables with random edits on real engines; each answer is also checked against the edits
themselves, so a strategy that agrees with another one by being wrong in the same way still fails.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from pm_pipeline.core.config.spec import ColumnRule, TableMapping
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import Category, TableReconciliation
from pm_pipeline.core.reconcile import ReconcileOptions

from .engines import Col, DuckSide, MySide, Pair, ParquetSide, PgSide, SqliteSide
from .test_property import COLUMNS, VALUE_COLUMNS, tables_and_edits

STRATEGIES = ("arrow", "pushdown", "bucket")
_names = itertools.count()
Rows = dict[int, tuple[Any, ...]]


def _answer(result: TableReconciliation) -> tuple[Any, ...]:
    findings = sorted(
        (str(f.category), tuple(sorted((f.key or {}).items())), f.column or "") for f in result.findings
    )
    counts = (
        result.source_rows,
        result.target_rows,
        result.matched_rows,
        result.missing_rows,
        result.extra_rows,
        result.changed_rows,
    )
    return counts, tuple(findings)


def _expected(source: Rows, target: Rows) -> tuple[set[int], set[int], set[tuple[int, str]]]:
    changed = {
        (key, column)
        for key in source.keys() & target.keys()
        for index, column in enumerate(VALUE_COLUMNS, start=1)
        if source[key][index] != target[key][index]
    }
    return source.keys() - target.keys(), target.keys() - source.keys(), changed


def _check_truth(result: TableReconciliation, source: Rows, target: Rows) -> None:
    missing, extra, changed = _expected(source, target)

    def keys(category: Category) -> set[int]:
        return {f.key["id"] for f in result.findings if f.category is category and f.key}

    assert keys(Category.MISSING_ROW) == missing, result.strategy
    assert keys(Category.EXTRA_ROW) == extra, result.strategy
    found = {
        (f.key["id"], f.column) for f in result.findings if f.category is Category.VALUE_MISMATCH and f.key
    }
    assert found == changed, result.strategy
    assert result.matched_rows == len(source.keys() & target.keys()), result.strategy
    assert (result.source_rows, result.target_rows) == (len(source), len(target)), result.strategy


def _all_strategies_agree(pair: Pair, source: Rows, target: Rows) -> None:
    name = f"s{next(_names)}"
    pair.source.create(name, COLUMNS, list(source.values()), key=["id"])
    pair.target.create(name, COLUMNS, list(target.values()), key=["id"])
    mapping = TableMapping(source=name, key=["id"])
    answers = {}
    for strategy in STRATEGIES:
        # Two rows per bucket: most buckets are equal and skipped, so the filtered re-read is exercised.
        options = ReconcileOptions(strategy=strategy, bucket_rows=2)
        result = pair.reconcile(mapping, options=options)
        assert result.strategy == strategy, result.strategy_note
        _check_truth(result, source, target)
        answers[strategy] = _answer(result)
    assert answers["pushdown"] == answers["arrow"]
    assert answers["bucket"] == answers["arrow"]


def _partitions_add_up(pair: Pair, source: Rows, target: Rows, strategy: str) -> None:
    name = f"p{next(_names)}"
    pair.source.create(name, COLUMNS, list(source.values()), key=["id"])
    pair.target.create(name, COLUMNS, list(target.values()), key=["id"])
    mapping = TableMapping(source=name, key=["id"])
    whole = pair.reconcile(mapping, options=ReconcileOptions(strategy=strategy, bucket_rows=2))
    parts = [
        pair.reconcile(mapping, options=ReconcileOptions(strategy=strategy, partition=(i, 3), bucket_rows=2))
        for i in range(3)
    ]
    whole_counts, whole_findings = _answer(whole)
    part_answers = [_answer(part) for part in parts]
    summed = tuple(sum(counts[i] for counts, _ in part_answers) for i in range(len(whole_counts)))
    assert summed == whole_counts
    assert sorted(f for _, findings in part_answers for f in findings) == list(whole_findings)


def _examples(n: int) -> settings:
    return settings(
        max_examples=n, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )


@_examples(8)
@given(data=tables_and_edits())
def test_strategies_agree_duckdb_to_duckdb(tmp_path: Path, data: tuple[Rows, Rows]) -> None:
    pair = Pair("duckdb->duckdb", DuckSide(tmp_path / "s.duckdb"), DuckSide(tmp_path / "t.duckdb"))
    _all_strategies_agree(pair, *data)


@_examples(8)
@given(data=tables_and_edits())
def test_strategies_agree_sqlite_to_duckdb(tmp_path: Path, data: tuple[Rows, Rows]) -> None:
    """SQLite cannot hash in SQL: its side hashes locally, to the same values."""
    pair = Pair("sqlite->duckdb", SqliteSide(tmp_path / "s.db"), DuckSide(tmp_path / "t.duckdb"))
    name = f"q{next(_names)}"
    source, target = data
    pair.source.create(name, COLUMNS, list(source.values()), key=["id"])
    pair.target.create(name, COLUMNS, list(target.values()), key=["id"])
    mapping = TableMapping(source=name, key=["id"])
    arrow = pair.reconcile(mapping, options=ReconcileOptions(strategy="arrow"))
    pushdown = pair.reconcile(mapping, options=ReconcileOptions(strategy="pushdown"))
    _check_truth(pushdown, source, target)
    assert _answer(pushdown) == _answer(arrow)
    # Bucket checksums need both engines to hash in SQL: forced, it falls back and says why.
    bucket = pair.reconcile(mapping, options=ReconcileOptions(strategy="bucket"))
    assert bucket.strategy == "pushdown" and "sqlite" in bucket.strategy_note
    assert _answer(bucket) == _answer(arrow)


@pytest.mark.postgres
@_examples(6)
@given(data=tables_and_edits(max_rows=20))
def test_strategies_agree_postgres_to_postgres(pg_db: Any, pg_db2: Any, data: tuple[Rows, Rows]) -> None:
    _all_strategies_agree(Pair("postgres->postgres", PgSide(pg_db.url), PgSide(pg_db2.url)), *data)


@pytest.mark.postgres
@pytest.mark.mariadb
@_examples(6)
@given(data=tables_and_edits(max_rows=20))
def test_strategies_agree_mariadb_to_postgres(mariadb_db: Any, pg_db: Any, data: tuple[Rows, Rows]) -> None:
    _all_strategies_agree(Pair("mariadb->postgres", MySide(mariadb_db.url), PgSide(pg_db.url)), *data)


@pytest.mark.parametrize("strategy", STRATEGIES)
@_examples(5)
@given(data=tables_and_edits())
def test_partitions_add_up_to_the_whole_table(tmp_path: Path, strategy: str, data: tuple[Rows, Rows]) -> None:
    pair = Pair("duckdb->duckdb", DuckSide(tmp_path / "s.duckdb"), DuckSide(tmp_path / "t.duckdb"))
    _partitions_add_up(pair, *data, strategy)


@pytest.mark.postgres
@pytest.mark.mariadb
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_partitions_add_up_mariadb_to_postgres(mariadb_db: Any, pg_db: Any, strategy: str) -> None:
    source = {k: (k, f"t{k}", None, k / 8, None) for k in range(1, 60)}
    target = {k: v for k, v in source.items() if k % 7}
    target[100] = (100, "new", None, 1.0, None)
    target[3] = (3, "changed", None, 3 / 8, None)
    _partitions_add_up(
        Pair("mariadb->postgres", MySide(mariadb_db.url), PgSide(pg_db.url)), source, target, strategy
    )


def test_float_noise_within_tolerance_is_never_reported_by_buckets(tmp_path: Path) -> None:
    """Noise in the 12th significant digit stays equal whatever bucket a row lands in."""
    pair = Pair("duckdb->duckdb", DuckSide(tmp_path / "s.duckdb"), DuckSide(tmp_path / "t.duckdb"))
    columns = [Col("id", "int"), Col("price", "float")]
    source = [(k, round(k * 1.37, 2)) for k in range(1, 2001)]
    target = [(k, p * (1 + 3e-12) if k % 3 == 0 else p) for k, p in source]
    target[10] = (11, 1e6)  # one real difference
    pair.source.create("noise", columns, source, key=["id"])
    pair.target.create("noise", columns, target, key=["id"])
    mapping = TableMapping(source="noise", key=["id"])
    result = pair.reconcile(mapping, options=ReconcileOptions(strategy="bucket", bucket_rows=4))
    assert result.strategy == "bucket"
    changed = {
        (f.key["id"], f.column) for f in result.findings if f.category is Category.VALUE_MISMATCH and f.key
    }
    assert changed == {(11, "price")}
    # Prices with two decimals sit off the bin edges: the noise moves few rows into another bin.
    differing, total = (int(n) for n in re.findall(r"(\d+) of (\d+) buckets differ", result.strategy_note)[0])
    assert differing <= total // 20


def test_unknown_strategy_is_bad_input(tmp_path: Path) -> None:
    pair = Pair("duckdb->duckdb", DuckSide(tmp_path / "s.duckdb"), DuckSide(tmp_path / "t.duckdb"))
    pair.source.create("t", COLUMNS, [], key=["id"])
    pair.target.create("t", COLUMNS, [], key=["id"])
    with pytest.raises(BadInputError, match="unknown reconciliation strategy 'fast'"):
        pair.reconcile(TableMapping(source="t"), options=ReconcileOptions(strategy="fast"))


@pytest.fixture(
    params=[
        # Same-engine pairs hash typed values with the engine's own functions, not canonical text.
        pytest.param("postgres->postgres", marks=pytest.mark.postgres),
        pytest.param("duckdb->duckdb"),
    ]
)
def same_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Pair:
    if request.param == "postgres->postgres":
        pg_db, pg_db2 = request.getfixturevalue("pg_db"), request.getfixturevalue("pg_db2")
        return Pair("postgres->postgres", PgSide(pg_db.url), PgSide(pg_db2.url))
    return Pair("duckdb->duckdb", DuckSide(tmp_path / "s.duckdb"), DuckSide(tmp_path / "t.duckdb"))


@pytest.mark.parametrize("column", VALUE_COLUMNS)
def test_values_swapped_between_two_rows_are_found_by_every_strategy(same_engine: Pair, column: str) -> None:
    # Two rows' values exchanged by a faulty UPDATE ... FROM: a bucket checksum that XORs one hash
    # per column sees the same sum, so every row of a one-bucket table must still be read.
    index = VALUE_COLUMNS.index(column) + 1
    source: Rows = {
        k: (k, f"name {k}", Decimal(k) / 4, k / 8, dt.datetime(2024, 1, k, 12)) for k in range(1, 11)
    }
    target = dict(source)
    first, second = list(source[1]), list(source[2])
    first[index], second[index] = second[index], first[index]
    target[1], target[2] = tuple(first), tuple(second)
    name = f"w{next(_names)}"
    same_engine.source.create(name, COLUMNS, list(source.values()), key=["id"])
    same_engine.target.create(name, COLUMNS, list(target.values()), key=["id"])
    mapping = TableMapping(source=name, key=["id"])
    for strategy in STRATEGIES:
        result = same_engine.reconcile(mapping, options=ReconcileOptions(strategy=strategy))
        assert result.strategy == strategy, result.strategy_note
        _check_truth(result, source, target)


@pytest.mark.postgres
def test_infinite_dates_and_instants_agree_under_every_strategy(pg_db: Any, pg_db2: Any) -> None:
    # PostgreSQL applications keep 'infinity' as "valid forever"; the engine's own date hash
    # cannot subtract it, and the read failed with a panic of the driver.
    columns = "id int PRIMARY KEY, d date, ts timestamp, tz timestamptz, note text"
    rows = (
        "(1, 'infinity', 'infinity', 'infinity', 'a'), (2, '-infinity', '-infinity', '-infinity', 'b'), "
        "(3, '2024-02-29', '2024-02-29 10:00', '2024-02-29 10:00+02', 'c'), (4, NULL, NULL, NULL, 'd')"
    )
    pg_db.execute(f"CREATE TABLE valid ({columns})", f"INSERT INTO valid VALUES {rows}")
    pg_db2.execute(
        f"CREATE TABLE valid ({columns})",
        f"INSERT INTO valid VALUES {rows}",
        "UPDATE valid SET note = 'changed' WHERE id = 1",
    )
    pair = Pair("postgres->postgres", PgSide(pg_db.url), PgSide(pg_db2.url))
    mapping = TableMapping(source="valid", key=["id"])
    answers = {}
    for strategy in STRATEGIES:
        result = pair.reconcile(mapping, options=ReconcileOptions(strategy=strategy, bucket_rows=2))
        assert result.strategy == strategy, result.strategy_note
        changed = {(f.key["id"], f.column) for f in result.findings if f.key}
        assert changed == {(1, "note")}, strategy
        assert (result.matched_rows, result.changed_rows) == (4, 1), strategy
        answers[strategy] = _answer(result)
    assert answers["pushdown"] == answers["arrow"] == answers["bucket"]


def test_a_strategy_forced_on_the_command_line_says_so(tmp_path: Path) -> None:
    pair = Pair("duckdb->duckdb", DuckSide(tmp_path / "s.duckdb"), DuckSide(tmp_path / "t.duckdb"))
    pair.source.create("t", COLUMNS, [], key=["id"])
    pair.target.create("t", COLUMNS, [], key=["id"])
    for strategy in ("arrow", "pushdown"):
        from_cli = pair.reconcile(TableMapping(source="t"), options=ReconcileOptions(strategy=strategy))
        assert (from_cli.strategy, from_cli.strategy_note) == (strategy, "forced by --strategy")
        from_spec = pair.reconcile(TableMapping(source="t", strategy=strategy))
        assert (from_spec.strategy, from_spec.strategy_note) == (strategy, "forced by the spec")


def test_the_automatic_choice_sizes_tables_with_the_connectors_estimates(tmp_path: Path) -> None:
    # Neither SQLite nor Parquet files keep a row count in their schema: the choice asked the
    # connectors' cheap estimates (a count, the file footers) instead of reporting "size unknown".
    pair = Pair("sqlite->parquet", SqliteSide(tmp_path / "s.db"), ParquetSide(tmp_path / "lake"))
    rows = [(k, f"t{k}", None, k / 8, None) for k in range(1, 13)]
    pair.source.create("sized", COLUMNS, rows, key=["id"])
    pair.target.create("sized", COLUMNS, rows[:-1], key=["id"])
    result = pair.reconcile(TableMapping(source="sized", key=["id"]))
    assert (result.strategy, result.strategy_note) == ("arrow", "small table (about 12 rows)")
    assert result.missing_rows == 1


# Sets and lists: (source rows, target rows, rule, keys expected to differ). A SET's value is its
# members in definition order, joined by commas; '' is the empty set and equals an empty array.
LIST_CASES = [
    # MariaDB SET -> PostgreSQL text[]: compared as sets, so the order arrays keep is free.
    pytest.param(
        "mariadb->postgres",
        {1: "a,b", 2: "a,b,c", 3: "", 4: None, 5: "a,d e", 6: "b", 7: "a"},
        {1: ["b", "a"], 2: ["a", "b"], 3: [], 4: None, 5: ["d e", "a", "a"], 6: ["b", "c"], 7: None},
        None,
        {2, 6, 7},  # 2 lost 'c', 6 gained 'c', 7 lost its value
        marks=[pytest.mark.mariadb, pytest.mark.postgres],
        id="mariadb-set-to-postgres-text-array",
    ),
    # The same migration declared ordered: the array must keep the SET's definition order.
    pytest.param(
        "mariadb->postgres",
        {1: "a,b", 2: "a,b,c", 3: "", 4: None},
        {1: ["b", "a"], 2: ["a", "b", "c"], 3: [], 4: None},
        "ordered",
        {1},
        marks=[pytest.mark.mariadb, pytest.mark.postgres],
        id="mariadb-set-to-postgres-text-array-ordered",
    ),
    # PostgreSQL int[] -> DuckDB INTEGER[]: ordered lists, a reordered list is a difference.
    pytest.param(
        "postgres->duckdb",
        {1: [1, 2, 3], 2: [3, 1], 3: [], 4: None, 5: [1, None], 6: [7, 7], 7: [2]},
        {1: [1, 2, 3], 2: [1, 3], 3: [], 4: [], 5: [1, None], 6: [7], 7: [2, 5]},
        None,
        {2, 4, 6, 7},
        marks=pytest.mark.postgres,
        id="postgres-int-array-to-duckdb-list",
    ),
    # The same lists declared unordered: order and duplicates no longer count.
    pytest.param(
        "postgres->duckdb",
        {1: [1, 2, 3], 2: [3, 1], 3: [], 4: None, 5: [1, None], 6: [7, 7], 7: [2]},
        {1: [1, 2, 3], 2: [1, 3], 3: [], 4: [], 5: [None, 1], 6: [7], 7: [2, 5]},
        "unordered",
        {4, 7},
        marks=pytest.mark.postgres,
        id="postgres-int-array-to-duckdb-list-unordered",
    ),
]


@pytest.mark.parametrize(("pair_name", "source", "target", "order", "differ"), LIST_CASES)
def test_sets_and_lists_agree_under_every_strategy(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    pair_name: str,
    source: dict[int, Any],
    target: dict[int, Any],
    order: str | None,
    differ: set[int],
) -> None:
    pg_db = request.getfixturevalue("pg_db")
    if pair_name == "mariadb->postgres":
        pair, kind = (
            Pair(pair_name, MySide(request.getfixturevalue("mariadb_db").url), PgSide(pg_db.url)),
            "tags",
        )
    else:
        pair, kind = Pair(pair_name, PgSide(pg_db.url), DuckSide(tmp_path / "t.duckdb")), "ints"
    columns = [Col("id", "int"), Col("v", kind)]
    name = f"l{next(_names)}"
    pair.source.create(name, columns, list(source.items()), key=["id"])
    pair.target.create(name, columns, list(target.items()), key=["id"])
    rules = {"v": ColumnRule(list_order=order)} if order else {}
    mapping = TableMapping(source=name, key=["id"], columns=rules)
    for strategy in STRATEGIES:
        result = pair.reconcile(mapping, options=ReconcileOptions(strategy=strategy, bucket_rows=2))
        # Bucket checksums run only when the column is hashed in SQL on both sides.
        assert result.strategy == strategy, result.strategy_note
        found = {f.key["id"] for f in result.findings if f.category is Category.VALUE_MISMATCH and f.key}
        assert found == differ, strategy
        assert not [f for f in result.findings if f.category is not Category.VALUE_MISMATCH], strategy
