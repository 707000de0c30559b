"""On every gallery pair, the checksum manifest the check takes from its reconciliation's own pass
(the arrow strategy's batches, bucket summaries, or one aggregate scan) is the one each side gives
when read again on its own: a manifest written by the check verifies against the live databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from pm_pipeline.core.config.loader import spec_from_mapping
from pm_pipeline.core.digest.rows import ALGORITHM
from pm_pipeline.core.integrity.checksum import write_manifest
from pm_pipeline.core.integrity.verify import verify_manifest
from pm_pipeline.core.reconcile import ReconcileOptions
from pm_pipeline.core.run import run_check
from pm_pipeline_tests.conftest import MyDatabase, PgDatabase

from .pairs import Migration, _spec, migrate


def _manifest_verifies(migration: Migration, folder: Path, strategy: str) -> set[str]:
    spec = spec_from_mapping(_spec(migration), file="gallery.yaml")
    result = run_check(spec, options=ReconcileOptions(strategy=strategy), diff_dir=folder / "diffs")
    assert len(result.manifest) == len(spec.tables)
    if strategy == "arrow":  # each side's checksum came with the reconciliation's own read
        assert all(table.digests is not None for table in result.tables)
    path = folder / f"manifest-{strategy}.json"
    write_manifest(str(path), entries=result.manifest)
    assert verify_manifest(str(path)) == []
    return {side.algorithm for entry in result.manifest for side in (entry.source, entry.target)}


@pytest.mark.mariadb
@pytest.mark.postgres
@pytest.mark.parametrize("strategy", ["arrow", "bucket"])
def test_mariadb_postgres(mariadb_db: MyDatabase, pg_db: PgDatabase, tmp_path: Path, strategy: str) -> None:
    migration = migrate("mariadb", "postgres", folder=tmp_path, source_db=mariadb_db, target_db=pg_db)
    algorithms = _manifest_verifies(migration, tmp_path, strategy)
    if strategy == "arrow":  # tapped from the batches the reconciliation read
        assert algorithms == {ALGORITHM}


@pytest.mark.mariadb
def test_mariadb_sqlite(mariadb_db: MyDatabase, tmp_path: Path) -> None:
    migration = migrate("mariadb", "sqlite", folder=tmp_path, source_db=mariadb_db)
    assert _manifest_verifies(migration, tmp_path, "arrow") == {ALGORITHM}


@pytest.mark.postgres
def test_postgres_duckdb(pg_db: PgDatabase, tmp_path: Path) -> None:
    migration = migrate("postgres", "duckdb", folder=tmp_path, source_db=pg_db)
    _manifest_verifies(migration, tmp_path, "arrow")
    _manifest_verifies(migration, tmp_path, "auto")


@pytest.mark.postgres
def test_sqlite_postgres(pg_db: PgDatabase, tmp_path: Path) -> None:
    migration = migrate("sqlite", "postgres", folder=tmp_path, target_db=pg_db)
    assert _manifest_verifies(migration, tmp_path, "arrow") == {ALGORITHM}
