"""How the assets and checks read in the Dagster UI: what each check proves and what fails it, owners,
kinds and tags per engine, match scores as percentages, and observations of the source and target
tables recorded by the runs and the drift sensor that read them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from pm_pipeline.core.config import MigrationSpec
from pm_pipeline.core.findings import NotCompared, TableReconciliation
from pm_pipeline.core.reconcile.verdict import INTEGRITY_OK, ROWS_MATCH, SCHEMA_MATCH, VALUES_MATCH

ENGINE_TAG = "pm_pipeline/engine"
SIDE_TAG = "pm_pipeline/side"
ROW_COUNT = "row_count"
OBSERVED_BY = "observed_by"

_INCOMPLETE = (
    " A check that could not run to the end (an SQL error, a lost connection) fails it as incomplete."
)
CHECK_DESCRIPTIONS = {
    ROWS_MATCH: (
        "Proves every source row is in the target exactly once and the target holds no other row (by key, "
        "or as a multiset without one). Fails on missing, extra or duplicate keys above the spec's "
        "max_missing_rows, max_extra_rows or max_duplicate_keys; tolerated ones warn." + _INCOMPLETE
    ),
    VALUES_MATCH: (
        "Proves every compared cell is equal, exactly or under a declared rule (time zone, scale, "
        "encoding), shown with raw and canonical values. Fails on changed rows above max_changed_rows, or "
        "a match score below min_match_score." + _INCOMPLETE
    ),
    SCHEMA_MATCH: (
        "Proves the target keeps what the source declares: columns, types without narrowing, nullability, "
        "defaults, keys, constraints, indexes, foreign keys and sequences. Fails on a missing column, a "
        "narrowed type, a lost key or any other schema error." + _INCOMPLETE
    ),
    INTEGRITY_OK: (
        "Proves the migrated data holds together: no orphans under any foreign key, business and temporal "
        "rules hold, sequences are ahead of their keys, checksums and the expectation suite agree. Fails "
        "on any integrity error." + _INCOMPLETE
    ),
}

_ENGINE_NAMES = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "mysql": "mysql",
    "mariadb": "mariadb",
    "duckdb": "duckdb",
    "sqlite": "sqlite",
    "parquet": "parquet",
    "csv": "csv",
}


def engine_kind(url: str) -> str:
    """The engine's name as a Dagster kind (one the UI draws with its logo where it has one)."""
    scheme = url.split(":", 1)[0].lower().split("+", 1)[0] if "://" in url else "files"
    return _ENGINE_NAMES.get(scheme, scheme)


def owners(spec: MigrationSpec) -> list[str]:
    """The spec's owners, or the team named after the migration."""
    return list(spec.owners) if spec.owners else [f"team:{spec.name}"]


def engine_tags(*, source: str, target: str) -> dict[str, str]:
    """Tags to filter the asset catalog by engine pair (``pm_pipeline/engine=sqlite-duckdb``)."""
    return {ENGINE_TAG: f"{source}-{target}"}


def percent(score: float) -> str:
    """A match score as a percentage that never rounds a difference away: 0.999996 is 99.9999 %."""
    text = f"{score * 100:.4f}"
    if score < 1 and text == "100.0000":
        text = "99.9999"
    return f"{text} %"


def check_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """A check's metadata as the UI shows it: the match score as a percentage."""
    shown = dict(metadata)
    score = shown.get("match_score")
    if isinstance(score, float):
        shown["match_score"] = percent(score)
    return shown


def observations(
    *, source: dg.AssetKey, target: dg.AssetKey, result: TableReconciliation, observer: str
) -> list[dg.AssetObservation]:
    """The row counts a reconciliation read, as observations of the source and target tables;
    none for a table that was not compared (its counts are unknown, not zero)."""
    if isinstance(result, NotCompared):
        return []
    return [
        dg.AssetObservation(
            asset_key=key,
            metadata={ROW_COUNT: dg.MetadataValue.int(rows), OBSERVED_BY: observer},
        )
        for key, rows in ((source, result.source_rows), (target, result.target_rows))
    ]


def fingerprint_observations(
    *, source: dg.AssetKey, target: dg.AssetKey, rows: Mapping[str, int], observer: str
) -> list[dg.AssetObservation]:
    """Row counts the drift sensor measured (side -> rows) as observations of both tables."""
    keys = {"source": source, "target": target}
    return [
        dg.AssetObservation(
            asset_key=keys[side], metadata={ROW_COUNT: dg.MetadataValue.int(count), OBSERVED_BY: observer}
        )
        for side, count in sorted(rows.items())
        if side in keys
    ]
