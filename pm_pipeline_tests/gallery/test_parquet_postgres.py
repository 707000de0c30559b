"""Parquet exports -> PostgreSQL: Arrow types (uint16, list<string>, decimal128, timestamp[us, UTC]) against the loaded tables pass, spec-less and with a spec naming the keys; the defect twin reports exactly its defects."""

from __future__ import annotations

from pathlib import Path

import pytest

from pm_pipeline_tests.conftest import PgDatabase

from .pairs import assert_clean_with_spec, assert_clean_without_spec, assert_defects_reported, migrate

pytestmark = pytest.mark.postgres


def test_correct_migration_passes_without_a_spec(pg_db: PgDatabase, tmp_path: Path) -> None:
    migration = migrate("parquet", "postgres", folder=tmp_path, target_db=pg_db)
    assert_clean_without_spec(migration, folder=tmp_path)


def test_correct_migration_passes_with_a_spec(pg_db: PgDatabase, tmp_path: Path) -> None:
    migration = migrate("parquet", "postgres", folder=tmp_path, target_db=pg_db)
    assert_clean_with_spec(migration, folder=tmp_path)


def test_defect_twin_reports_each_seeded_defect(pg_db: PgDatabase, tmp_path: Path) -> None:
    migration = migrate("parquet", "postgres", folder=tmp_path, target_db=pg_db, defective=True)
    assert_defects_reported(migration, folder=tmp_path)


def test_defect_twin_reports_each_seeded_defect_without_a_spec(pg_db: PgDatabase, tmp_path: Path) -> None:
    migration = migrate("parquet", "postgres", folder=tmp_path, target_db=pg_db, defective=True)
    assert_defects_reported(migration, folder=tmp_path, spec=False)
