"""SQLite -> DuckDB: SQLite's declared types and stored renderings against DuckDB's typed columns pass, spec-less and with a spec; the defect twin reports exactly its defects."""

from __future__ import annotations

from pathlib import Path

from .pairs import assert_clean_with_spec, assert_clean_without_spec, assert_defects_reported, migrate


def test_correct_migration_passes_without_a_spec(tmp_path: Path) -> None:
    migration = migrate("sqlite", "duckdb", folder=tmp_path)
    assert_clean_without_spec(migration, folder=tmp_path)


def test_correct_migration_passes_with_a_spec(tmp_path: Path) -> None:
    migration = migrate("sqlite", "duckdb", folder=tmp_path)
    assert_clean_with_spec(migration, folder=tmp_path)


def test_defect_twin_reports_each_seeded_defect(tmp_path: Path) -> None:
    # DuckDB enforces foreign keys on load: this twin has no lost parent.
    migration = migrate("sqlite", "duckdb", folder=tmp_path, defective=True)
    assert_defects_reported(migration, folder=tmp_path)


def test_defect_twin_reports_each_seeded_defect_without_a_spec(tmp_path: Path) -> None:
    migration = migrate("sqlite", "duckdb", folder=tmp_path, defective=True)
    assert_defects_reported(migration, folder=tmp_path, spec=False)
