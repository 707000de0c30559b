"""The baselines through pm-pipeline's connectors: the full pull finds exactly the seeded rows across engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from pm_pipeline.core.canonical.plan import DEFAULT_FLOAT_REL_TOLERANCE
from pm_pipeline_bench import baselines, load
from pm_pipeline_bench.generate import DataSet, generate
from pm_pipeline_bench.load import Server
from pm_pipeline_bench.machine import _server_version
from pm_pipeline_bench.score import from_key_lists, load_truth, score
from pm_pipeline_tests.conftest import MY_HOST, MY_PORT, PG_HOST, PG_PORT, MyDatabase, PgDatabase

PG = Server("postgresql", PG_HOST, PG_PORT, "postgres", "")
MY = Server("mysql", MY_HOST, MY_PORT, "root", "")


@pytest.fixture(scope="module")
def data_set(tmp_path_factory: pytest.TempPathFactory) -> DataSet:
    return generate(directory=tmp_path_factory.mktemp("baselines"), rows=1_500, seed=5, rate=0.05, csv=True)


@pytest.mark.postgres
@pytest.mark.mariadb
def test_full_pull_from_mariadb_to_postgresql_finds_every_seeded_row_and_no_other(
    mariadb_db: MyDatabase, pg_db: PgDatabase, data_set: DataSet
) -> None:
    load.load_mariadb(
        MY, mariadb_db.name, csv=data_set.source_csv, parquet=data_set.source_parquet, fingerprint="s"
    )
    load.load_postgres(
        PG, pg_db.name, csv=data_set.target_csv, parquet=data_set.target_parquet, fingerprint="t"
    )

    found = score(
        from_key_lists(
            baselines.pull(
                ("mysql", mariadb_db.url),
                ("postgresql", pg_db.url),
                rel_tolerance=DEFAULT_FLOAT_REL_TOLERANCE,
            )
        ),
        load_truth(data_set.edits_parquet),
    )

    assert (found.recall, found.precision, found.float_noise_reported) == (1.0, 1.0, 0)
    assert found.true_positives > 40


def test_floor_and_full_pull_on_duckdb_files(tmp_path: Path, data_set: DataSet) -> None:
    source, target, same = tmp_path / "s.duckdb", tmp_path / "t.duckdb", tmp_path / "same.duckdb"
    load.load_duckdb(source, parquet=data_set.source_parquet, fingerprint="s")
    load.load_duckdb(target, parquet=data_set.target_parquet, fingerprint="t")
    load.load_duckdb(same, parquet=data_set.target_parquet, fingerprint="t")
    url = {path: f"duckdb:///{path}" for path in (source, target, same)}

    differing = baselines.floor(("duckdb", url[source]), ("duckdb", url[target]))
    equal = baselines.floor(("duckdb", url[same]), ("duckdb", url[target]))
    truth = load_truth(data_set.edits_parquet)
    pair = ("duckdb", url[source]), ("duckdb", url[target])
    found = score(from_key_lists(baselines.pull(*pair, rel_tolerance=DEFAULT_FLOAT_REL_TOLERANCE)), truth)
    exact = score(from_key_lists(baselines.pull(*pair, rel_tolerance=0.0)), truth)

    assert differing["source_hash"] != differing["target_hash"]
    assert equal["source_hash"] == equal["target_hash"] != "None"
    assert (found.recall, found.precision, found.float_noise_reported) == (1.0, 1.0, 0)
    assert exact.float_noise_reported == len(truth.float_noise) > 0  # the tolerance is what hides them


@pytest.mark.postgres
@pytest.mark.mariadb
def test_machine_description_names_each_server_and_its_version() -> None:
    assert _server_version(PG, "postgres").startswith("PostgreSQL ")
    assert _server_version(MY, "information_schema").startswith(("MariaDB ", "MySQL "))
    assert _server_version(Server("postgresql", "127.0.0.1", 1, "postgres", ""), "postgres") == "unreachable"
