"""Where a `pm-pipeline check` run spent its wall time, read back from its findings JSON.

The findings JSON records the check's duration (``run.duration_seconds``: from connecting to the
last finding) and each table's reconciliation time (``tables[].counts.seconds``). So a run's wall
time splits into reconciliation, the rest of the check (introspection, schema comparison and, unless
--no-integrity, the integrity checks) and what lies outside the check (interpreter start-up,
imports, the summary and the report files). The integrity checks' own share is the difference of
that middle part between a run with them and the same run with --no-integrity.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Phases:
    reconcile_s: float  # every table's reconciliation
    other_checks_s: float  # introspection, schema comparison, integrity checks (when on)
    outside_s: float  # start-up, imports, summary and report writing: wall minus the check's duration


def read_phases(output: Path, *, wall_s: float) -> Phases:
    """The split of one run whose findings JSON is ``output`` and whose process took ``wall_s``."""
    document = json.loads(output.read_text())
    duration = float(document["run"]["duration_seconds"])
    reconcile = sum(
        float(table.get("counts", {}).get("seconds") or 0.0) for table in document.get("tables", [])
    )
    return Phases(
        reconcile_s=reconcile,
        other_checks_s=max(duration - reconcile, 0.0),
        outside_s=max(wall_s - duration, 0.0),
    )


def median_phases(runs: Sequence[Phases]) -> Phases | None:
    """Each part's median over the repeats (the parts of one median need not add up exactly)."""
    if not runs:
        return None
    return Phases(
        reconcile_s=statistics.median(run.reconcile_s for run in runs),
        other_checks_s=statistics.median(run.other_checks_s for run in runs),
        outside_s=statistics.median(run.outside_s for run in runs),
    )
