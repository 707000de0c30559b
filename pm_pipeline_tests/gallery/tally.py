"""What the defect twins' findings look like per check layer: errors and linked consequences.

Run against the local servers: ``.venv/bin/python -m pm_pipeline_tests.gallery.tally``. It loads
each pair's defect twin, checks it spec-less and with the careful spec, prints one line per run
(exit code, seeded defects, errors and ``caused_by`` consequences per check) and drops what it made.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from pm_pipeline_tests.conftest import TestDatabase, make_mariadb_database, make_pg_database

from .pairs import migrate
from .verify import Outcome, careful_spec, check_specless, check_with_spec

PAIRS = (
    ("mariadb", "postgres"),
    ("sqlite", "postgres"),
    ("mariadb", "sqlite"),
    ("postgres", "duckdb"),
    ("sqlite", "duckdb"),
    ("parquet", "postgres"),
)


@contextmanager
def _database(engine: str) -> Iterator[TestDatabase | None]:
    made = {"postgres": make_pg_database, "mariadb": make_mariadb_database}.get(engine)
    if made is None:
        yield None
        return
    databases = made()
    try:
        yield next(databases)
    finally:
        databases.close()  # runs the generator's drop


def _layers(outcome: Outcome) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for finding in outcome.findings:
        if finding.get("caused_by"):
            counts[(finding["check"], "consequence")] += 1
        elif finding["severity"] == "error":
            counts[(finding["check"], "error")] += 1
    return counts


def main() -> None:
    total: Counter[tuple[str, str]] = Counter()
    for source, target in PAIRS:
        for with_spec in (False, True):
            with ExitStack() as stack, tempfile.TemporaryDirectory() as scratch:
                folder = Path(scratch)
                migration = migrate(
                    source,
                    target,
                    folder=folder,
                    source_db=stack.enter_context(_database(source)),
                    target_db=stack.enter_context(_database(target)),
                    defective=True,
                )
                if with_spec:
                    spec = careful_spec(
                        migration.data,
                        source=source,
                        target=target,
                        source_url=migration.source_url,
                        target_url=migration.target_url,
                        naming=migration.naming,
                    )
                    outcome = check_with_spec(spec, folder=folder, name="spec")
                else:
                    outcome = check_specless(
                        migration.source_url, migration.target_url, out=folder / "out.json"
                    )
                layers = _layers(outcome)
                total.update(layers)
                shown = ", ".join(f"{check} {kind} {n}" for (check, kind), n in sorted(layers.items()))
                mode = "spec" if with_spec else "spec-less"
                print(
                    f"{source} -> {target} ({mode}): exit {outcome.exit_code}, "
                    f"{len(migration.defects)} seeded; {shown}"
                )
    print("all runs: " + ", ".join(f"{check} {kind} {n}" for (check, kind), n in sorted(total.items())))


if __name__ == "__main__":
    main()
