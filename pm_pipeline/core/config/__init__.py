"""The migration spec: YAML -> validated, frozen models."""

from pm_pipeline.core.config.loader import load_spec, spec_checksum, spec_from_mapping
from pm_pipeline.core.config.spec import (
    Classification,
    ColumnRule,
    Endpoint,
    MigrationSpec,
    ReportSettings,
    TableMapping,
    Thresholds,
)

__all__ = [
    "Classification",
    "ColumnRule",
    "Endpoint",
    "MigrationSpec",
    "ReportSettings",
    "TableMapping",
    "Thresholds",
    "load_spec",
    "spec_checksum",
    "spec_from_mapping",
]
