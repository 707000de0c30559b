"""MariaDB -> PostgreSQL, the pgloader migration: a correct one passes spec-less and with a spec, its defect twin reports exactly its defects."""

from __future__ import annotations

from pathlib import Path

import pytest

from pm_pipeline_tests.conftest import MyDatabase, PgDatabase

from .pairs import assert_clean_with_spec, assert_clean_without_spec, assert_defects_reported, migrate

pytestmark = [pytest.mark.mariadb, pytest.mark.postgres]


def test_correct_migration_passes_without_a_spec(
    mariadb_db: MyDatabase, pg_db: PgDatabase, tmp_path: Path
) -> None:
    migration = migrate("mariadb", "postgres", folder=tmp_path, source_db=mariadb_db, target_db=pg_db)
    assert_clean_without_spec(migration, folder=tmp_path)


def test_correct_migration_passes_with_a_spec(
    mariadb_db: MyDatabase, pg_db: PgDatabase, tmp_path: Path
) -> None:
    migration = migrate("mariadb", "postgres", folder=tmp_path, source_db=mariadb_db, target_db=pg_db)
    assert_clean_with_spec(migration, folder=tmp_path)


def test_defect_twin_reports_each_seeded_defect(
    mariadb_db: MyDatabase, pg_db: PgDatabase, tmp_path: Path
) -> None:
    migration = migrate(
        "mariadb", "postgres", folder=tmp_path, source_db=mariadb_db, target_db=pg_db, defective=True
    )
    assert_defects_reported(migration, folder=tmp_path)


def test_defect_twin_reports_each_seeded_defect_without_a_spec(
    mariadb_db: MyDatabase, pg_db: PgDatabase, tmp_path: Path
) -> None:
    migration = migrate(
        "mariadb", "postgres", folder=tmp_path, source_db=mariadb_db, target_db=pg_db, defective=True
    )
    assert_defects_reported(migration, folder=tmp_path, spec=False)
