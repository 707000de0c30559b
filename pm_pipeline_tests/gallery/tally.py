"""What the defect twins' findings look like per check layer: errors and linked consequences.

Run against the local servers: ``.venv/bin/python -m pm_pipeline_tests.gallery.tally``. It loads
each pair's defect twin, checks it spec-less and with the careful spec, prints one line per run
(exit code, seeded defects, errors and ``caused_by`` consequences per check) and drops what it made.

``--snapshot FILE`` also checks each pair's correct migration and writes every run's exit code and
findings (without run-specific times and paths), sorted, to FILE; ``--compare FILE`` then reports
any run whose findings differ from that snapshot and exits 1: a snapshot taken before a change
that must not alter any finding, compared after it, proves that it did not.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

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


_VOLATILE = ("started_at", "finished_at", "duration", "seconds", "elapsed", "path", "run_id", "report")


def _stable(finding: dict[str, Any]) -> dict[str, Any]:
    """A finding without what differs from run to run (times, paths, run ids)."""
    return {k: v for k, v in finding.items() if not any(word in k for word in _VOLATILE)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tally")
    parser.add_argument("--snapshot", type=Path, help="write every run's findings to this file")
    parser.add_argument("--compare", type=Path, help="compare every run's findings with this snapshot")
    args = parser.parse_args(argv)
    keep = args.snapshot is not None or args.compare is not None
    runs: dict[str, Any] = {}
    total: Counter[tuple[str, str]] = Counter()
    for source, target in PAIRS:
        for defective in (True, False) if keep else (True,):
            for with_spec in (False, True):
                with ExitStack() as stack, tempfile.TemporaryDirectory() as scratch:
                    folder = Path(scratch)
                    migration = migrate(
                        source,
                        target,
                        folder=folder,
                        source_db=stack.enter_context(_database(source)),
                        target_db=stack.enter_context(_database(target)),
                        defective=defective,
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
                    mode = "spec" if with_spec else "spec-less"
                    kind = "defective" if defective else "correct"
                    findings = sorted(
                        (_stable(f) for f in outcome.findings), key=lambda f: json.dumps(f, sort_keys=True)
                    )
                    runs[f"{source} -> {target} {kind} ({mode})"] = {
                        "exit_code": outcome.exit_code,
                        "findings": findings,
                    }
                    if not defective:
                        print(f"{source} -> {target} correct ({mode}): exit {outcome.exit_code}")
                        continue
                    layers = _layers(outcome)
                    total.update(layers)
                    shown = ", ".join(f"{check} {kind} {n}" for (check, kind), n in sorted(layers.items()))
                    print(
                        f"{source} -> {target} ({mode}): exit {outcome.exit_code}, "
                        f"{len(migration.defects)} seeded; {shown}"
                    )
    print("all runs: " + ", ".join(f"{check} {kind} {n}" for (check, kind), n in sorted(total.items())))
    if args.snapshot is not None:
        args.snapshot.write_text(json.dumps(runs, indent=1, sort_keys=True, default=str) + "\n")
    if args.compare is not None:
        before = json.loads(args.compare.read_text())
        now = json.loads(json.dumps(runs, sort_keys=True, default=str))
        changed = sorted(name for name in before.keys() | now.keys() if before.get(name) != now.get(name))
        for name in changed:
            print(f"changed: {name}")
        print(f"{len(now) - len(changed)} of {len(now)} runs identical to {args.compare}")
        return 1 if changed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
