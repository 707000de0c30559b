"""MariaDB -> SQLite: ENUM, SET, YEAR, zero dates and unsigned integers land in SQLite's declared types and pass, spec-less and with a spec; the defect twin reports exactly its defects."""

from __future__ import annotations

from pathlib import Path

import pytest

from pm_pipeline_tests.conftest import MyDatabase

from .pairs import assert_clean_with_spec, assert_clean_without_spec, assert_defects_reported, migrate

pytestmark = pytest.mark.mariadb


def test_correct_migration_passes_without_a_spec(mariadb_db: MyDatabase, tmp_path: Path) -> None:
    migration = migrate("mariadb", "sqlite", folder=tmp_path, source_db=mariadb_db)
    assert_clean_without_spec(migration, folder=tmp_path)


def test_correct_migration_passes_with_a_spec(mariadb_db: MyDatabase, tmp_path: Path) -> None:
    migration = migrate("mariadb", "sqlite", folder=tmp_path, source_db=mariadb_db)
    assert_clean_with_spec(migration, folder=tmp_path)


def test_defect_twin_reports_each_seeded_defect(mariadb_db: MyDatabase, tmp_path: Path) -> None:
    migration = migrate("mariadb", "sqlite", folder=tmp_path, source_db=mariadb_db, defective=True)
    assert_defects_reported(migration, folder=tmp_path)


def test_defect_twin_reports_each_seeded_defect_without_a_spec(
    mariadb_db: MyDatabase, tmp_path: Path
) -> None:
    migration = migrate("mariadb", "sqlite", folder=tmp_path, source_db=mariadb_db, defective=True)
    assert_defects_reported(migration, folder=tmp_path, spec=False)
