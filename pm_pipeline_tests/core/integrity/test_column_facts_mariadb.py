"""The reading pass's column facts on real engines, MariaDB -> PostgreSQL: a case-insensitive,
space-padding collation, CHAR padding and renamed columns settle uniqueness and value sets exactly
as the databases' own counts would, and a target that lost uniqueness is still found."""

from __future__ import annotations

import pytest

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import ColumnFacts
from pm_pipeline.core.integrity import profile
from pm_pipeline.core.integrity.expectations import ExpectationRun
from pm_pipeline.core.reconcile import ReconcileOptions, reconcile_table
from pm_pipeline_tests.conftest import MyDatabase, PgDatabase
from pm_pipeline_tests.support.expectations import run_table_expectations

pytestmark = [pytest.mark.postgres, pytest.mark.mariadb]

ROWS = 40
# Apart byte for byte, equal under utf8mb4_general_ci (case, trailing spaces under PAD SPACE).
LOOKALIKES = ["v1", "V1", "v1 ", "v1  "]


@pytest.fixture(autouse=True)
def _small_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profile, "SAMPLE_ROWS", 10)


def _rows(codes: list[str]) -> str:
    return ", ".join(f"({i}, '{code}', '{code[:4]}', {i % 3})" for i, code in enumerate(codes, 1))


def _load(source: MyDatabase, target: PgDatabase, codes: list[str], target_codes: list[str]) -> None:
    source.execute(
        "CREATE TABLE items (id INT PRIMARY KEY, code VARCHAR(20) COLLATE utf8mb4_general_ci, "
        "label CHAR(6), tier INT NOT NULL)",
        f"INSERT INTO items VALUES {_rows(codes)}",
    )
    target.execute(
        "CREATE TABLE items (id int PRIMARY KEY, kode varchar(20), label char(6), tier int NOT NULL)",
        f"INSERT INTO items VALUES {_rows(target_codes)}",
    )


MAPPING = TableMapping(source="items", renames={"code": "kode"})


def _both_ways(source_url: str, target_url: str) -> tuple[ExpectationRun, ExpectationRun, ColumnFacts]:
    with connect(source_url) as source, connect(target_url) as target:
        reconciled = reconcile_table(
            source=source,
            target=target,
            mapping=MAPPING,
            options=ReconcileOptions(count_repeats=True, value_set_max=20),
        )
    assert reconciled.strategy == "arrow" and reconciled.column_facts is not None
    with_facts = run_table_expectations(
        source_url, target_url, mapping=MAPPING, facts=reconciled.column_facts
    )
    without = run_table_expectations(source_url, target_url, mapping=MAPPING)
    return with_facts, without, reconciled.column_facts


def _codes(*lookalikes: str) -> list[str]:
    codes = [f"code-{i}" for i in range(ROWS)]
    codes[ROWS - len(lookalikes) :] = lookalikes
    return codes


@pytest.mark.parametrize(
    ("source_codes", "target_codes"),
    [
        (_codes(*LOOKALIKES), _codes(*LOOKALIKES)),  # distinct byte for byte: unique on both sides
        (_codes(), _codes("code-1", "code-2", "code-3")),  # the target gained three duplicates
        (_codes("code-1", "code-2", "code-3", "code-4"), _codes("code-1", "code-2", "code-3", "code-4")),
    ],
)
def test_facts_give_the_same_expectations_and_findings_as_the_databases_counts(
    mariadb_db: MyDatabase, pg_db: PgDatabase, source_codes: list[str], target_codes: list[str]
) -> None:
    _load(mariadb_db, pg_db, source_codes, target_codes)
    with_facts, without, facts = _both_ways(mariadb_db.url, pg_db.url)
    # The code column's repeats on each side, counted over canonical values byte for byte.
    expected = [len(codes) - len(set(codes)) for codes in (source_codes, target_codes)]
    assert [side["code"] for side in facts.repeats] == expected
    assert (with_facts.evaluated, with_facts.findings) == (without.evaluated, without.findings)
    lost = [f for f in with_facts.findings if "to_be_unique" in (f.rule or "")]
    assert len(lost) == (1 if target_codes != source_codes else 0)
