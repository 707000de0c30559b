"""What the per-table asset modules share: asset keys, the spec's current mapping of a table, the
servers a table's checks ran on, the metadata a reconciliation shows in Dagster, and the upkeep of a
table's diff folder."""

import dataclasses
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from pm_pipeline.core.config import MigrationSpec, TableMapping
from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.findings import TableReconciliation
from pm_pipeline.core.monitor import metrics
from pm_pipeline.core.report import Redactor, pseudonymiser_for
from pm_pipeline.defs.presentation import percent
from pm_pipeline.defs.tenancy import tenant_key

TABLE_TAG = "pm_pipeline/table"
MATCH_PERCENT = "match_score_percent"
EXAMPLES_IN_METADATA = 10
_BUCKET_FOLDER = re.compile(r"bucket=(\d+)")


def safe_name(table: str) -> str:
    """An asset-key-safe spelling of a table name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", table)


@dataclass(frozen=True)
class TableKeys:
    table: str
    source: dg.AssetKey
    target: dg.AssetKey
    reconciliation: dg.AssetKey
    schema: dg.AssetKey
    integrity: dg.AssetKey
    verified: dg.AssetKey


def table_keys(table: str) -> TableKeys:
    name = safe_name(table)
    return TableKeys(
        table=table,
        source=tenant_key("source", name),
        target=tenant_key("target", name),
        reconciliation=tenant_key("reconciliation", name),
        schema=tenant_key("schema", name),
        integrity=tenant_key("integrity", name),
        verified=tenant_key("verified", name),
    )


@dataclass(frozen=True)
class ServerVersions:
    """Each side's engine and version (e.g. 'PostgreSQL 16.4'), as its server reported them."""

    source: str
    target: str

    @classmethod
    def of(cls, *, source: Connector, target: Connector) -> "ServerVersions":
        """Read on connections a check already holds, so that nothing downstream reconnects for them."""
        return cls(source=source.server_version(), target=target.server_version())


def current_mapping(spec: MigrationSpec, mapping: TableMapping) -> TableMapping:
    """The spec's mapping as it is now, or the discovered one the definitions were built with."""
    try:
        return spec.mapping_for(mapping.source)
    except KeyError:
        return mapping


def _examples_markdown(result: TableReconciliation, redactor: Redactor) -> str:
    lines = ["| category | key | column | source | target | rule | why |", "|---|---|---|---|---|---|---|"]
    for finding in map(redactor.redact, result.findings[:EXAMPLES_IN_METADATA]):
        cells = [
            finding.category,
            finding.key,
            finding.column,
            finding.source_value,
            finding.target_value,
            finding.rule,
            finding.message,
        ]
        lines.append("| " + " | ".join("" if c is None else str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) if result.findings else "No differences."


def table_metadata(result: TableReconciliation, redactor: Redactor) -> dict[str, Any]:
    """Counts, score, top columns, examples (masked above the spec's clearance), and the numbers the
    monitoring sensors trend."""
    top = sorted((c for c in result.columns if c.mismatched), key=lambda c: -c.mismatched)[:5]
    compared = max(result.matched_rows, 1)
    metadata: dict[str, Any] = {
        # Shown first, as people read it; match_score below stays the fraction the monitors trend.
        MATCH_PERCENT: dg.MetadataValue.text(percent(result.match_score)),
        metrics.SOURCE_ROWS: dg.MetadataValue.int(result.source_rows),
        metrics.TARGET_ROWS: dg.MetadataValue.int(result.target_rows),
        "missing_rows": dg.MetadataValue.int(result.missing_rows),
        "extra_rows": dg.MetadataValue.int(result.extra_rows),
        "duplicate_keys": dg.MetadataValue.int(result.duplicate_keys_source + result.duplicate_keys_target),
        "changed_rows": dg.MetadataValue.int(result.changed_rows),
        metrics.MISMATCH_RATE: dg.MetadataValue.float(
            (result.changed_rows + result.missing_rows + result.extra_rows)
            / max(compared + result.missing_rows + result.extra_rows, 1)
        ),
        metrics.MATCH_SCORE: dg.MetadataValue.float(result.match_score),
        metrics.DURATION_SECONDS: dg.MetadataValue.float(result.seconds),
        "top_differing_columns": dg.MetadataValue.json({c.column: c.mismatched for c in top}),
        "examples": dg.MetadataValue.md(_examples_markdown(result, redactor)),
        "strategy": result.strategy,
    }
    if result.diff_path:
        metadata["diff_path"] = dg.MetadataValue.path(result.diff_path)
    return metadata


def remove_stale_diffs(folder: Path, *, buckets: int) -> list[Path]:
    """Remove what no longer belongs to the diff of the table whose diff folder is ``folder``
    (``<reports>/diffs/<table>``), so that reading every file under it reads this diff only.

    A table cut in ``buckets`` buckets keeps ``bucket=0`` .. ``bucket=<buckets - 1>``: the folders
    of buckets numbered from ``buckets`` on (left by a larger count) go, and so do the files of a
    whole-table run. A table reconciled whole (``buckets=0``) keeps its files; every bucket folder
    goes. Returns what was removed."""
    if not folder.is_dir():
        return []
    removed: list[Path] = []
    for child in sorted(folder.iterdir()):
        match = _BUCKET_FOLDER.fullmatch(child.name)
        if child.is_dir() and match and int(match.group(1)) >= buckets:
            shutil.rmtree(child)
            removed.append(child)
        elif buckets and child.is_file() and child.suffix == ".parquet":
            child.unlink()
            removed.append(child)
    return removed


def stored(result: TableReconciliation, spec: MigrationSpec) -> TableReconciliation:
    """The result as Dagster stores it between steps (a pickle on disk): no value above the clearance."""
    return dataclasses.replace(result, findings=tuple(map(pseudonymiser_for(spec).redact, result.findings)))
