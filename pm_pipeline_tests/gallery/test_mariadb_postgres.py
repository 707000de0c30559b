"""MariaDB -> PostgreSQL, the pgloader migration: a correct one passes spec-less and with a spec, its defect twin reports exactly its defects."""

from __future__ import annotations

from pathlib import Path

import pytest

from pm_pipeline_tests.conftest import MyDatabase, PgDatabase

from .dataset import Dataset, gallery_dataset, seed_defects
from .load import load_mariadb, load_postgres
from .render import Naming, shape
from .verify import careful_spec, check_specless, check_with_spec, clean_failures, defect_failures

pytestmark = [pytest.mark.mariadb, pytest.mark.postgres]

LEGACY, MIGRATED = Naming(snake=False), Naming(snake=True)


def _migrate(mariadb_db: MyDatabase, pg_db: PgDatabase, target: Dataset | None = None) -> Dataset:
    source = shape(gallery_dataset(), source="mariadb")
    load_mariadb(mariadb_db.name, source, naming=LEGACY)
    load_postgres(pg_db.name, target or source, source="mariadb", naming=MIGRATED, target_side=True)
    return source


def test_correct_migration_passes_without_a_spec(
    mariadb_db: MyDatabase, pg_db: PgDatabase, tmp_path: Path
) -> None:
    _migrate(mariadb_db, pg_db)
    outcome = check_specless(mariadb_db.url, pg_db.url, out=tmp_path / "findings.json")
    assert not (problems := clean_failures(outcome)), "\n".join(problems)


def test_correct_migration_passes_with_a_spec(
    mariadb_db: MyDatabase, pg_db: PgDatabase, tmp_path: Path
) -> None:
    source = _migrate(mariadb_db, pg_db)
    spec = careful_spec(
        source, source="mariadb", source_url=mariadb_db.url, target_url=pg_db.url, naming=LEGACY
    )
    outcome = check_with_spec(spec, folder=tmp_path, name="spec")
    assert not (problems := clean_failures(outcome)), "\n".join(problems)


def test_defect_twin_reports_each_seeded_defect(
    mariadb_db: MyDatabase, pg_db: PgDatabase, tmp_path: Path
) -> None:
    twin = seed_defects(shape(gallery_dataset(), source="mariadb"))
    source = _migrate(mariadb_db, pg_db, twin.target)
    spec = careful_spec(
        source, source="mariadb", source_url=mariadb_db.url, target_url=pg_db.url, naming=LEGACY
    )
    outcome = check_with_spec(spec, folder=tmp_path, name="twin")
    assert not (problems := defect_failures(outcome, twin.defects, naming=LEGACY)), "\n".join(problems)
