"""`pm-pipeline verify-manifest`: recompute a checksum manifest, or the file hashes of a report set."""

from __future__ import annotations

from pathlib import Path

from pm_pipeline.cli.common import remember_secrets
from pm_pipeline.core.config import load_spec
from pm_pipeline.core.integrity import verify_manifest
from pm_pipeline.core.report.report_set import verify_report_set


def run_verify_manifest(*, manifest: Path, spec_path: Path | None) -> bool:
    """Recompute a checksum manifest; print what differs. True when every checksum matches."""
    urls = None
    if spec_path is not None:
        spec = load_spec(spec_path)
        remember_secrets(spec.source.url, spec.target.url)
        urls = {"source": spec.source.url, "target": spec.target.url}
    findings = verify_manifest(str(manifest), urls=urls)
    for finding in findings:
        print(f"{finding.table}: {finding.category}: {finding.message}")
    print("every checksum matches" if not findings else f"{len(findings)} checksum(s) differ")
    return not findings


def run_verify_report_set(path: Path) -> bool:
    """Recompute the SHA-256 of every file of a report set; print what differs. True when all match."""
    document, problems = verify_report_set(path)
    for problem in problems:
        print(f"{problem.path}: {problem.problem}")
    files = len(document.get("files", []))
    run = document.get("run_id", "?")
    print(
        f"report set {run}: every file matches its manifest ({files} files)"
        if not problems
        else f"report set {run}: {len(problems)} file(s) differ from the manifest"
    )
    return not problems
