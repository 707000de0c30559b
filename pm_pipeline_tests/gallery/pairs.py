"""One gallery engine pair end to end: load the source and its migrated target, run the three checks.

A pair module names its engines and hands over its databases; ``assert_*`` do the rest, so each
pair reads in a few lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pm_pipeline_tests.conftest import TestDatabase

from .dataset import Dataset, gallery_dataset
from .defects import Defect, seed_defects
from .load import load_duckdb, load_mariadb, load_postgres, load_sqlite, write_parquet
from .render import Naming, shape
from .verify import careful_spec, check_specless, check_with_spec, clean_failures, defect_failures

MIGRATED = Naming(snake=True)


@dataclass(frozen=True)
class Migration:
    source: str  # engine
    target: str
    source_url: str
    target_url: str
    data: Dataset  # as it exists on the source engine
    naming: Naming  # the source's names (a PostgreSQL source is already snake_case)
    defects: tuple[Defect, ...] = ()


def _load_source(engine: str, data: Dataset, *, naming: Naming, db: TestDatabase | None, folder: Path) -> str:
    if engine == "mariadb":
        assert db is not None
        load_mariadb(db.name, data, naming=naming)
        return db.url
    if engine == "postgres":
        assert db is not None
        load_postgres(db.name, data, source="postgres", naming=naming, target_side=False)
        return db.url
    if engine == "sqlite":
        return load_sqlite(folder / "source.db", data, source="sqlite", naming=naming, target_side=False)
    return write_parquet(folder / "source", data, naming=naming)


def _load_target(engine: str, data: Dataset, *, source: str, db: TestDatabase | None, folder: Path) -> str:
    if engine == "postgres":
        assert db is not None
        load_postgres(db.name, data, source=source, naming=MIGRATED, target_side=True)
        return db.url
    if engine == "sqlite":
        return load_sqlite(folder / "target.db", data, source=source, naming=MIGRATED, target_side=True)
    return load_duckdb(folder / "target.duckdb", data, source=source, naming=MIGRATED, target_side=True)


def migrate(
    source: str,
    target: str,
    *,
    folder: Path,
    source_db: TestDatabase | None = None,
    target_db: TestDatabase | None = None,
    defective: bool = False,
) -> Migration:
    """Load the gallery into ``source`` and its migration into ``target``; ``defective`` seeds the
    twin's defects into the target (no lost parent where the target enforces foreign keys on load)."""
    data = shape(gallery_dataset(), source=source)
    naming = Naming(snake=source == "postgres")
    defects: tuple[Defect, ...] = ()
    loaded = data
    if defective:
        twin = seed_defects(data, orphans=target != "duckdb", counters=target != "sqlite")
        loaded, defects = twin.target, twin.defects
    source_url = _load_source(source, data, naming=naming, db=source_db, folder=folder)
    target_url = _load_target(target, loaded, source=source, db=target_db, folder=folder)
    return Migration(source, target, source_url, target_url, data, naming, defects)


def assert_clean_without_spec(migration: Migration, *, folder: Path) -> None:
    outcome = check_specless(migration.source_url, migration.target_url, out=folder / "specless.json")
    assert not (problems := clean_failures(outcome)), "\n".join(problems)


def _spec(migration: Migration) -> dict[str, object]:
    return careful_spec(
        migration.data,
        source=migration.source,
        target=migration.target,
        source_url=migration.source_url,
        target_url=migration.target_url,
        naming=migration.naming,
    )


def assert_clean_with_spec(migration: Migration, *, folder: Path) -> None:
    outcome = check_with_spec(_spec(migration), folder=folder, name="spec")
    assert not (problems := clean_failures(outcome)), "\n".join(problems)


def assert_defects_reported(migration: Migration, *, folder: Path, spec: bool = True) -> None:
    """Each seeded defect at its place, with the careful spec or with none (keys then come from
    the source's primary keys, or the target's for files)."""
    assert migration.defects, "the twin must seed defects"
    if spec:
        outcome = check_with_spec(_spec(migration), folder=folder, name="twin")
    else:
        outcome = check_specless(
            migration.source_url, migration.target_url, out=folder / "twin-specless.json"
        )
    problems = defect_failures(outcome, migration.defects, naming=migration.naming)
    assert not problems, "\n".join(problems)
