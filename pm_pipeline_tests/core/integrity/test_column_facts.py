"""What the reconciliation's reading pass learns of the columns settles the generated expectations:
each column's repeated values settle uniqueness instead of a count of its own, and the source's
few distinct values make the value sets without a query; the same expectations are kept and the
same findings raised."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from pm_pipeline.core.config.spec import Classification, ColumnRule, TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import TableReconciliation
from pm_pipeline.core.integrity import profile
from pm_pipeline.core.integrity.expectations import ExpectationRun
from pm_pipeline.core.reconcile import ReconcileOptions, reconcile_table
from pm_pipeline_tests.support.expectations import run_table_expectations

ROWS = 60
UNIQUE_CODE = "expect_column_values_to_be_unique"


@pytest.fixture(autouse=True)
def _small_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    # The profile's bounded sample, made smaller than the table: duplicates lie past it.
    monkeypatch.setattr(profile, "SAMPLE_ROWS", 10)


def _database(path: Path, codes: list[str | None]) -> str:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, code TEXT, amount INTEGER NOT NULL)")
        db.executemany("INSERT INTO items VALUES (?, ?, ?)", [(i, c, i * 10) for i, c in enumerate(codes, 1)])
    return f"sqlite:///{path}"


def _codes(*, duplicates: int = 0, nulls: int = 0) -> list[str | None]:
    """Distinct codes, ``nulls`` of them NULL, and the last ``duplicates`` copies of earlier ones."""
    codes: list[str | None] = [f"code-{i}" for i in range(ROWS)]
    for i in range(nulls):
        codes[20 + i] = None
    for i in range(duplicates):
        codes[ROWS - 1 - i] = f"code-{i}"
    return codes


def _whole_counts(statements: list[str]) -> list[str]:
    """Statements counting the code column's distinct values over a whole table (no sample)."""
    return [s for s in statements if re.search(r"COUNT\(DISTINCT", s) and "LIMIT" not in s and "code" in s]


def _check(
    source_url: str, target_url: str, *, counted: bool
) -> tuple[TableReconciliation, ExpectationRun, list[str]]:
    mapping = TableMapping(source="items")
    with connect(source_url) as source, connect(target_url) as target:
        reconciled = reconcile_table(
            source=source, target=target, mapping=mapping, options=ReconcileOptions(count_repeats=counted)
        )
    statements: list[str] = []  # what the expectations ran on either side, not the reconciliation
    run = run_table_expectations(
        source_url,
        target_url,
        mapping=mapping,
        facts=reconciled.column_facts,
        source_statements=statements,
        target_statements=statements,
    )
    return reconciled, run, statements


def _unique_findings(run: ExpectationRun) -> list[str]:
    return [f.message for f in run.findings if (f.rule or "").startswith(UNIQUE_CODE)]


def test_the_reading_pass_counts_repeated_values_of_each_side_nulls_aside(tmp_path: Path) -> None:
    source = _database(tmp_path / "a.db", _codes(duplicates=2, nulls=5))
    target = _database(tmp_path / "b.db", _codes(nulls=5))
    reconciled, _, _ = _check(source, target, counted=True)
    assert reconciled.strategy == "arrow"
    assert reconciled.column_facts is not None
    assert reconciled.column_facts.repeats == ({"code": 2, "amount": 0}, {"code": 0, "amount": 0})
    unasked, _, _ = _check(source, target, counted=False)
    assert unasked.column_facts is None


@pytest.mark.parametrize("duplicates", [0, 3, 5])
def test_the_counts_settle_uniqueness_as_a_count_would(tmp_path: Path, duplicates: int) -> None:
    source = _database(tmp_path / "a.db", _codes(duplicates=duplicates, nulls=3))
    target = _database(tmp_path / "b.db", _codes(duplicates=duplicates, nulls=3))
    _, with_counts, statements = _check(source, target, counted=True)
    _, without, counted_again = _check(source, target, counted=False)
    assert (with_counts.evaluated, with_counts.findings) == (without.evaluated, without.findings)
    assert _unique_findings(with_counts) == []
    # Settled without a count of its own on either side, which the checks ran before.
    assert _whole_counts(statements) == []
    assert _whole_counts(counted_again) != []


@pytest.mark.parametrize("duplicates", [1, 2])
def test_one_or_two_repeats_are_counted_again_exactly(tmp_path: Path, duplicates: int) -> None:
    source = _database(tmp_path / "a.db", _codes(duplicates=duplicates))
    target = _database(tmp_path / "b.db", _codes(duplicates=duplicates))
    _, run, statements = _check(source, target, counted=True)
    _, without, _ = _check(source, target, counted=False)
    assert (run.evaluated, run.findings) == (without.evaluated, without.findings)
    assert _whole_counts(statements) != []


def test_a_target_that_lost_uniqueness_fails_with_its_exact_count(tmp_path: Path) -> None:
    source = _database(tmp_path / "a.db", _codes())
    target = _database(tmp_path / "b.db", _codes(duplicates=4))
    reconciled, run, _ = _check(source, target, counted=True)
    assert reconciled.column_facts is not None and reconciled.column_facts.repeats[1]["code"] == 4
    found = _unique_findings(run)
    assert len(found) == 1 and re.search(r"\b4 ", found[0]), found
    _, without, _ = _check(source, target, counted=False)
    assert run.findings == without.findings


# Value sets: the source's distinct values of the columns holding few, kept by the reading pass.

STATUSES = ("new", "paid", "sent")


def _shop(path: Path, statuses: Sequence[str] = STATUSES) -> str:
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, status TEXT, tier TEXT NOT NULL, qty INTEGER NOT NULL)"
        )
        db.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?)",
            [(i, statuses[i % len(statuses)] if i % 7 else None, f"t{i % 2}", i % 4) for i in range(ROWS)],
        )
    return f"sqlite:///{path}"


# ``tier`` is classified: its values are never kept in a result that may be stored.
CLASSIFIED = TableMapping(
    source="items", columns={"tier": ColumnRule(classification=Classification.RESTRICTED)}
)


def _with_sets(
    source_url: str, target_url: str, *, kept: bool
) -> tuple[TableReconciliation, ExpectationRun, list[str]]:
    with connect(source_url) as source, connect(target_url) as target:
        reconciled = reconcile_table(
            source=source,
            target=target,
            mapping=CLASSIFIED,
            options=ReconcileOptions(count_repeats=kept, value_set_max=20 if kept else 0),
        )
    statements: list[str] = []
    run = run_table_expectations(
        source_url,
        target_url,
        mapping=CLASSIFIED,
        facts=reconciled.column_facts,
        source_statements=statements,
    )
    return reconciled, run, statements


def _sets(run: ExpectationRun) -> list[str]:
    return sorted(f.message for f in run.findings if "to_be_in_set" in (f.rule or ""))


def test_the_reading_pass_keeps_the_few_values_of_unclassified_columns(tmp_path: Path) -> None:
    reconciled, _, _ = _with_sets(_shop(tmp_path / "a.db"), _shop(tmp_path / "b.db"), kept=True)
    assert reconciled.column_facts is not None
    assert dict(reconciled.column_facts.source_values) == {"status": STATUSES, "qty": ("0", "1", "2", "3")}


@pytest.mark.parametrize("target_statuses", [STATUSES, ("new", "paid", "lost")])
def test_kept_values_make_the_same_value_sets_without_a_query(
    tmp_path: Path, target_statuses: tuple[str, ...]
) -> None:
    source, target = _shop(tmp_path / "a.db"), _shop(tmp_path / "b.db", target_statuses)
    _, with_values, statements = _with_sets(source, target, kept=True)
    _, without, queried = _with_sets(source, target, kept=False)
    assert (with_values.evaluated, with_values.findings) == (without.evaluated, without.findings)
    assert len(_sets(with_values)) == (0 if target_statuses == STATUSES else 1)
    grouped = [s for s in statements if "GROUP BY" in s]
    assert [s for s in queried if "GROUP BY" in s] != []
    # Only the classified column's values are still fetched from the source.
    assert len(grouped) == 1 and "tier" in grouped[0] and "status" not in grouped[0], grouped


def test_a_column_repeating_in_its_first_batch_is_not_hashed_and_reports_a_lower_bound(
    tmp_path: Path,
) -> None:
    codes = _codes(duplicates=3)  # three repeats at the end of the table
    codes[1] = codes[2] = codes[0]  # and two in the first batch
    source = _database(tmp_path / "a.db", codes)
    target = _database(tmp_path / "b.db", codes)
    mapping = TableMapping(source="items")
    with connect(source) as a, connect(target) as b:
        reconciled = reconcile_table(
            source=a, target=b, mapping=mapping, options=ReconcileOptions(count_repeats=True, batch_rows=10)
        )
    assert reconciled.column_facts is not None
    # The first 10 rows repeat code twice: counted there, a lower bound of the table's 5.
    assert reconciled.column_facts.repeats == ({"code": 2, "amount": 0}, {"code": 2, "amount": 0})
    with_facts = run_table_expectations(source, target, mapping=mapping, facts=reconciled.column_facts)
    without = run_table_expectations(source, target, mapping=mapping)
    assert (with_facts.evaluated, with_facts.findings) == (without.evaluated, without.findings)
