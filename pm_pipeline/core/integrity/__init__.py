"""Integrity of the migrated target: referential integrity, business and temporal rules, sequences,
checksum manifests, and expectations run inside the target (generated ones as our own SQL, declared
suites through Great Expectations)."""

from pm_pipeline.core.integrity.check import IntegrityResult, check_table_integrity
from pm_pipeline.core.integrity.checksum import ManifestEntry, TableChecksum, write_manifest
from pm_pipeline.core.integrity.expectations import ExpectationRun, run_expectations
from pm_pipeline.core.integrity.settings import IntegritySettings, parse_integrity
from pm_pipeline.core.integrity.sql_expectations import GeneratedExpectation
from pm_pipeline.core.integrity.suite import GeneratedSuite, generate_expectations
from pm_pipeline.core.integrity.verify import verify_manifest

__all__ = [
    "ExpectationRun",
    "GeneratedExpectation",
    "GeneratedSuite",
    "IntegrityResult",
    "IntegritySettings",
    "ManifestEntry",
    "TableChecksum",
    "check_table_integrity",
    "generate_expectations",
    "parse_integrity",
    "run_expectations",
    "verify_manifest",
    "write_manifest",
]
