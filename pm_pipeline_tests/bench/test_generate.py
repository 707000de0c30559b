"""The bench's data generator: same input, same rows; every seeded edit is where the ground truth says."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pm_pipeline_bench.generate import COLUMNS, EDITS, DataSet, generate, is_complete
from pm_pipeline_bench.load import Server
from pm_pipeline_bench.pairs import Servers, build_pairs
from pm_pipeline_bench.run import _prepare_data
from pm_pipeline_bench.score import load_truth

ROWS = 2_000
RATE = 0.05  # high enough that every edit hits a few of the 2,000 rows


def _rows(path: Path) -> dict[int, dict[str, Any]]:
    relation = duckdb.execute(f"SELECT * FROM read_parquet('{path}')")
    return {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in relation.fetchall()}


@pytest.fixture(scope="module")
def data_set(tmp_path_factory: pytest.TempPathFactory) -> DataSet:
    return generate(directory=tmp_path_factory.mktemp("gen"), rows=ROWS, seed=7, rate=RATE, csv=True)


def test_same_seed_same_rows_and_another_seed_other_rows(data_set: DataSet, tmp_path: Path) -> None:
    again = generate(directory=tmp_path / "again", rows=ROWS, seed=7, rate=RATE, csv=False)
    other = generate(directory=tmp_path / "other", rows=ROWS, seed=8, rate=RATE, csv=False)
    assert _rows(again.source_parquet) == _rows(data_set.source_parquet)
    assert _rows(again.target_parquet) == _rows(data_set.target_parquet)
    assert _rows(other.source_parquet) != _rows(data_set.source_parquet)
    assert is_complete(again)
    assert not is_complete(DataSet(again.directory, ROWS, 9, RATE))


def test_values_vary_and_fit_their_types(data_set: DataSet) -> None:
    rows = list(_rows(data_set.source_parquet).values())
    assert len({row["customer_id"] for row in rows}) > ROWS * 0.9
    assert len({row["status"] for row in rows}) == 6
    assert 0.2 < sum(row["note"] is None for row in rows) / len(rows) < 0.4
    assert all(row["updated_at"] >= row["created_at"] for row in rows)
    assert {row["is_paid"] for row in rows} == {True, False}


def test_ground_truth_is_exactly_the_differences_between_the_sides(data_set: DataSet) -> None:
    source, target = _rows(data_set.source_parquet), _rows(data_set.target_parquet)
    truth = load_truth(data_set.edits_parquet)
    actual: set[tuple[int, str]] = set()
    noise: set[int] = set()
    for key in source.keys() | target.keys():
        if key not in target:
            actual.add((key, "missing"))
        elif key not in source:
            actual.add((key, "extra"))
        else:
            differing = {c for c in COLUMNS if source[key][c] != target[key][c]}
            if differing == {"unit_price"}:
                a, b = source[key]["unit_price"], target[key]["unit_price"]
                assert math.isclose(a, b, rel_tol=1e-9)
                assert not math.isclose(a, b, rel_tol=1e-12)
                noise.add(key)
            elif differing:
                actual.add((key, "changed"))
    assert actual == truth.expected
    assert noise == truth.float_noise
    assert abs(len(truth.expected) - ROWS * RATE) < ROWS * RATE * 0.5


def test_each_edit_changes_what_it_says(data_set: DataSet) -> None:
    source, target = _rows(data_set.source_parquet), _rows(data_set.target_parquet)
    edits = duckdb.execute(f"SELECT id, edit FROM read_parquet('{data_set.edits_parquet}')").fetchall()
    seen = {edit for _, edit in edits}
    assert seen == {name for name, _ in EDITS}
    for key, edit in edits:
        if edit in ("missing", "extra"):
            assert (key in source) == (edit == "missing") and (key in target) == (edit == "extra")
            continue
        before, after = source[key], target[key]
        changed = {c for c in COLUMNS if before[c] != after[c]}
        expected_column = {
            "amount": "amount",
            "status": "status",
            "note_null": "note",
            "shift": "updated_at",
            "float_noise": "unit_price",
        }[edit]
        assert changed == {expected_column}, (key, edit, changed)
        if edit == "amount":
            assert after["amount"] - before["amount"] == 1
        if edit == "note_null":
            assert before["note"] is not None and after["note"] is None
        if edit == "shift":
            assert (after["updated_at"] - before["updated_at"]).total_seconds() == 3600


def test_csv_holds_nulls_as_backslash_n_and_booleans_as_digits(data_set: DataSet) -> None:
    lines = data_set.source_csv.read_text().splitlines()
    assert len(lines) == len(_rows(data_set.source_parquet))
    assert any(",\\N," in line for line in lines)
    assert {line.rsplit(",", 1)[1] for line in lines} == {"0", "1"}


@pytest.mark.parametrize("rate", [0.0, 0.9])
def test_rates_outside_the_band_space_are_refused(tmp_path: Path, rate: float) -> None:
    with pytest.raises(ValueError, match="difference rate"):
        generate(directory=tmp_path, rows=10, seed=1, rate=rate, csv=False)


_CSV_COLUMNS = (
    "{'id': 'BIGINT', 'customer_id': 'INTEGER', 'quantity': 'INTEGER', 'amount': 'DECIMAL(12,2)', "
    "'unit_price': 'DOUBLE', 'status': 'VARCHAR', 'note': 'VARCHAR', 'created_at': 'TIMESTAMP', "
    "'updated_at': 'TIMESTAMP', 'is_paid': 'INTEGER'}"
)


def _csv_rows(path: Path) -> list[tuple[Any, ...]]:
    query = f"SELECT * FROM read_csv('{path}', header = false, nullstr = '\\N', columns = {_CSV_COLUMNS}) ORDER BY id"
    return duckdb.execute(query).fetchall()


def _parquet_as_csv_rows(path: Path) -> list[tuple[Any, ...]]:
    query = f"SELECT * REPLACE (is_paid::INTEGER AS is_paid) FROM read_parquet('{path}') ORDER BY id"
    return duckdb.execute(query).fetchall()


def test_another_seed_in_the_same_work_dir_rewrites_the_csv_files(tmp_path: Path) -> None:
    servers = Servers(
        Server("postgresql", "127.0.0.1", 5432, "postgres", ""),
        Server("mysql", "127.0.0.1", 3306, "root", ""),
    )
    directory = tmp_path / "data" / "300"
    pairs = build_pairs(("pg-pg",), servers=servers, data_dir=directory)  # loads from CSV
    first = DataSet(directory, 300, 1, RATE)
    assert _prepare_data(first, pairs, log=lambda _: None) is not None
    first_csv = _csv_rows(first.source_csv), _csv_rows(first.target_csv)
    assert first_csv == (
        _parquet_as_csv_rows(first.source_parquet),
        _parquet_as_csv_rows(first.target_parquet),
    )

    second = DataSet(directory, 300, 2, RATE)
    assert _prepare_data(second, pairs, log=lambda _: None) is not None

    second_csv = _csv_rows(second.source_csv), _csv_rows(second.target_csv)
    expected = _parquet_as_csv_rows(second.source_parquet), _parquet_as_csv_rows(second.target_parquet)
    assert second_csv == expected
    assert first_csv != expected  # the files left by the first seed would not have matched
    assert sorted(path.name for path in directory.iterdir() if "csv" in path.name) == [
        "source.csv",
        "target.csv",
    ]
    assert _prepare_data(second, pairs, log=lambda _: None) is None  # complete now: reused as it is
