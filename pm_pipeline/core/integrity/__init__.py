"""Integrity of the migrated target: referential integrity, business and temporal rules, sequences,
checksum manifests, and Great Expectations suites run inside the target."""

from pm_pipeline.core.integrity.check import IntegrityResult, check_table_integrity
from pm_pipeline.core.integrity.checksum import ManifestEntry, TableChecksum, write_manifest
from pm_pipeline.core.integrity.expectations import ExpectationRun, run_expectations
from pm_pipeline.core.integrity.settings import IntegritySettings, parse_integrity
from pm_pipeline.core.integrity.verify import verify_manifest

__all__ = [
    "ExpectationRun",
    "IntegrityResult",
    "IntegritySettings",
    "ManifestEntry",
    "TableChecksum",
    "check_table_integrity",
    "parse_integrity",
    "run_expectations",
    "verify_manifest",
    "write_manifest",
]
