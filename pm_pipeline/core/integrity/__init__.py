"""Integrity of the migrated target: referential integrity, business and temporal rules, sequences,
checksum manifests, and expectations run inside the target (generated ones as our own SQL, declared
suites through Great Expectations)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pm_pipeline.core.config.integrity import IntegritySettings, parse_integrity
    from pm_pipeline.core.integrity.check import IntegrityResult, check_table_integrity
    from pm_pipeline.core.integrity.checksum import ManifestEntry, TableChecksum, write_manifest
    from pm_pipeline.core.integrity.early import EarlyStatement, HeadStart
    from pm_pipeline.core.integrity.expectations import ExpectationRun, run_expectations
    from pm_pipeline.core.integrity.read_profile import ReadProfile, tapping
    from pm_pipeline.core.integrity.sql_expectations import GeneratedExpectation
    from pm_pipeline.core.integrity.suite import GeneratedSuite, generate_expectations, start_profile
    from pm_pipeline.core.integrity.verify import verify_manifest

# Imported on first use: importing a name from here must not pull in the
# checks themselves (the reconciliation engine, pandas, DuckDB) just to validate a file.
_EXPORTS = {
    "EarlyStatement": "pm_pipeline.core.integrity.early",
    "ExpectationRun": "pm_pipeline.core.integrity.expectations",
    "HeadStart": "pm_pipeline.core.integrity.early",
    "ReadProfile": "pm_pipeline.core.integrity.read_profile",
    "GeneratedExpectation": "pm_pipeline.core.integrity.sql_expectations",
    "GeneratedSuite": "pm_pipeline.core.integrity.suite",
    "IntegrityResult": "pm_pipeline.core.integrity.check",
    "IntegritySettings": "pm_pipeline.core.config.integrity",
    "ManifestEntry": "pm_pipeline.core.integrity.checksum",
    "TableChecksum": "pm_pipeline.core.integrity.checksum",
    "check_table_integrity": "pm_pipeline.core.integrity.check",
    "generate_expectations": "pm_pipeline.core.integrity.suite",
    "parse_integrity": "pm_pipeline.core.config.integrity",
    "run_expectations": "pm_pipeline.core.integrity.expectations",
    "start_profile": "pm_pipeline.core.integrity.suite",
    "tapping": "pm_pipeline.core.integrity.read_profile",
    "verify_manifest": "pm_pipeline.core.integrity.verify",
    "write_manifest": "pm_pipeline.core.integrity.checksum",
}

__all__ = [
    "EarlyStatement",
    "ExpectationRun",
    "GeneratedExpectation",
    "GeneratedSuite",
    "HeadStart",
    "IntegrityResult",
    "IntegritySettings",
    "ManifestEntry",
    "ReadProfile",
    "TableChecksum",
    "check_table_integrity",
    "generate_expectations",
    "parse_integrity",
    "run_expectations",
    "start_profile",
    "tapping",
    "verify_manifest",
    "write_manifest",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value
