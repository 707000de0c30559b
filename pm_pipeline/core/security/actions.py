"""The audit records of actions other than rollback: check runs and the reports they wrote.

Rollback records its own steps (snapshot, plan, approval, execution). Every record names who acted
and from where (``AuditLog.origin``: cli, dagster:sensor, dagster:schedule, dagster:ui), and
carries checksums, never values: an audit log is read by people of any clearance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pm_pipeline.core.digest.files import file_sha256, tree_sha256
from pm_pipeline.core.security.audit import AuditLog, AuditRecord

CHECK_RUN_EVENT = "check.run"
REPORTS_EVENT = "report.written"
SPEC_CHANGED_EVENT = "spec.changed"


def _last_spec_checksum(log: AuditLog, spec_name: str) -> str | None:
    last = None
    for record in log.records():
        if record.event == CHECK_RUN_EVENT and record.data.get("spec") == spec_name:
            last = record.data.get("spec_checksum")
    return None if last is None else str(last)


def record_check_run(
    log: AuditLog,
    *,
    actor: str,
    spec_name: str,
    spec_checksum: str,
    verdict: str,
    tables: Sequence[str],
    source: str,
    target: str,
) -> AuditRecord:
    """Record a check run; when the spec's checksum differs from its previous run, a spec change first.

    ``source`` and ``target`` must already be masked (no password)."""
    previous = _last_spec_checksum(log, spec_name) if log.path.exists() else None
    if previous is not None and previous != spec_checksum:
        log.append(
            SPEC_CHANGED_EVENT,
            actor=actor,
            data={"spec": spec_name, "previous_checksum": previous, "spec_checksum": spec_checksum},
        )
    return log.append(
        CHECK_RUN_EVENT,
        actor=actor,
        data={
            "spec": spec_name,
            "spec_checksum": spec_checksum,
            "verdict": verdict,
            "tables": list(tables),
            "source": source,
            "target": target,
        },
    )


def record_reports(log: AuditLog, *, actor: str, spec_name: str, files: Mapping[str, Path]) -> AuditRecord:
    """Record the reports a run wrote, each by its SHA-256 (a folder by its files' checksums)."""
    checksums = {
        name: "sha256:" + (tree_sha256(path) if path.is_dir() else file_sha256(path))
        for name, path in sorted(files.items())
        if path.exists()
    }
    return log.append(REPORTS_EVENT, actor=actor, data={"spec": spec_name, "files": checksums})
