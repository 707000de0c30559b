"""Audiences: one report set per reader's clearance (``reports.audiences``), each masked at its level.

A check collects values at the highest audience's clearance, then renders each audience's set from
the same results, masked at that audience's clearance: every format through the report's redactor,
and the diff files (Parquet, written once by the reconciliation) rewritten with the masked values.
Each audience's sets live under their own root, ``<reports>/<audience>/<run id>`` with its own
``latest``, so a folder can be handed to its readers (permissions, a share, a bucket) whole.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pm_pipeline.core.config.spec import Classification, MigrationSpec
from pm_pipeline.core.errors import BadInputError, SystemFailure
from pm_pipeline.core.report.model import AudienceRecord
from pm_pipeline.core.security.redaction import FIXED_MASK

# The highest clearance a Dagster code location shows (metadata, stored outputs, its report sets).
INSTANCE_CLEARANCE_ENV = "PM_DAGSTER_CLEARANCE"
_CELL_VALUES = ("source_value", "target_value", "source_canonical", "target_canonical")
# Folders pm-pipeline creates for audiences above this one are readable by their owner only: a
# restricted set is never readable by default because its parent folder happened to be.
_OPEN_UP_TO = Classification.PUBLIC


def clearance_from_env(value: str | None) -> Classification | None:
    """The clearance named by :data:`INSTANCE_CLEARANCE_ENV`; unset or empty: none."""
    if not value or not value.strip():
        return None
    try:
        return Classification(value.strip().lower())
    except ValueError:
        choices = ", ".join(Classification)
        raise BadInputError(
            f"{INSTANCE_CLEARANCE_ENV}={value!r}: not a clearance; choose from {choices}"
        ) from None


def audiences_of(spec: MigrationSpec) -> tuple[Classification, ...]:
    """The spec's audiences, lowest clearance first (empty: one set at ``reports.clearance``)."""
    return spec.reports.audiences


def collecting_spec(spec: MigrationSpec) -> MigrationSpec:
    """The spec a check runs with when it renders audiences: values are kept up to the highest
    audience's clearance, so that audience's set can show them; lower sets mask them again."""
    audiences = audiences_of(spec)
    return at_clearance(spec, audiences[-1]) if audiences else spec


def shown_audience(audiences: tuple[Classification, ...], clearance: Classification) -> Classification:
    """The audience whose set the console names: the highest not above the run's own clearance
    (the console's), else the lowest."""
    below = [audience for audience in audiences if audience.rank <= clearance.rank]
    return below[-1] if below else audiences[0]


def at_clearance(spec: MigrationSpec, clearance: Classification) -> MigrationSpec:
    reports = spec.reports.model_copy(update={"clearance": clearance})
    return spec.model_copy(update={"reports": reports})


def hidden_columns(spec: MigrationSpec, audience: Classification) -> dict[str, set[str]]:
    """table -> the columns classified above ``audience``, under source and target names."""
    hidden: dict[str, set[str]] = {}
    for mapping in spec.tables:
        columns = {
            name
            for column, rule in mapping.columns.items()
            if rule.classification is not None and rule.classification.rank > audience.rank
            for name in (column, mapping.renames.get(column, column))
        }
        if columns:
            for table in (mapping.source, mapping.target_name):
                hidden.setdefault(table, set()).update(columns)
    return hidden


def audience_record(spec: MigrationSpec, audience: Classification) -> AudienceRecord:
    masked = sorted(
        f"{mapping.source}.{column}"
        for mapping in spec.tables
        for column, rule in mapping.columns.items()
        if rule.classification is not None and rule.classification.rank > audience.rank
    )
    return AudienceRecord(audience=audience, masked_columns=tuple(masked))


def audience_root(root: Path, audience: Classification) -> Path:
    """``<root>/<audience>``; created owner-only for audiences above public."""
    folder = root / str(audience)
    if not folder.exists():
        try:
            root.mkdir(parents=True, exist_ok=True)
            folder.mkdir(mode=0o700 if audience.rank > _OPEN_UP_TO.rank else 0o777, exist_ok=True)
        except OSError as exc:
            raise SystemFailure(f"cannot create the report folder {folder}: {exc.strerror or exc}") from exc
    return folder


def copy_masked_diffs(source: Path, destination: Path, *, hidden: Mapping[str, set[str]]) -> None:
    """Copy a run's diff folder (``<table>/...``) with the values of ``hidden`` columns masked.

    Two kinds of Parquet files are written there: changed cells (a JSON ``key``, the ``column``
    and its values) and missing/extra rows (one column per key column). Any other file is copied
    as it is: the reconciliation writes values into Parquet files only."""
    if not source.is_dir():
        return
    try:
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            target = destination / relative
            if path.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            columns = hidden.get(relative.parts[0], set()) if len(relative.parts) > 1 else set()
            if path.suffix == ".parquet" and columns:
                pq.write_table(_masked(pq.read_table(path), columns), target)
            else:
                shutil.copyfile(path, target)
    except OSError as exc:
        raise SystemFailure(f"cannot copy the diff files into {destination}: {exc.strerror or exc}") from exc


def _masked(table: pa.Table, hidden: set[str]) -> pa.Table:
    names = table.column_names
    if "key" in names and "column" in names:
        rows = table.to_pylist()
        for row in rows:
            if row["column"] in hidden:
                for name in _CELL_VALUES:
                    if row.get(name) is not None:
                        row[name] = FIXED_MASK
            if row["key"] is not None:
                key = json.loads(row["key"])
                masked = {c: FIXED_MASK if c in hidden and v is not None else v for c, v in key.items()}
                row["key"] = json.dumps(masked, ensure_ascii=False)
        return pa.Table.from_pylist(rows, schema=table.schema)
    for index, name in enumerate(names):
        if name in hidden:
            column = table.column(index)
            values = [None if v is None else FIXED_MASK for v in column.to_pylist()]
            table = table.set_column(index, pa.field(name, pa.string()), pa.array(values, pa.string()))
    return table
