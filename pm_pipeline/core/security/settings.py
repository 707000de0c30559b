"""The audit log a spec names: its ``audit:`` section (parsed with the spec) as a keyed, anchored log."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pm_pipeline.core.security.audit import AuditConfig, AuditLog

if TYPE_CHECKING:
    from pm_pipeline.core.config import MigrationSpec
    from pm_pipeline.core.config.audit import AuditSettings


def audit_config(settings: AuditSettings) -> AuditConfig:
    """How the log's key is read and its head anchored, as the ``audit`` section says."""
    return AuditConfig(
        key_env=settings.key_env,
        require_key=settings.require_key,
        anchor_file=settings.anchor_file,
        file_anchor=settings.file_anchor,
        anchor_url=settings.anchor_url,
    )


def audit_log_path(spec: MigrationSpec, *, for_rollback: bool = False) -> Path | None:
    """The spec's audit log: ``audit.log``; for the rollback commands ``rollback.audit_log`` when set
    (else ``audit.log``, else the rollback default). None when checks are not audited (no ``audit.log``)."""
    settings = spec.audit
    if not for_rollback:
        return None if settings.log is None else Path(settings.log)
    rollback = spec.rollback_settings
    if "audit_log" in rollback.model_fields_set or settings.log is None:
        return Path(rollback.audit_log)
    return Path(settings.log)


def spec_audit_log(spec: MigrationSpec, *, origin: str, for_rollback: bool = False) -> AuditLog | None:
    """The spec's audit log, keyed and anchored as its ``audit`` section says."""
    path = audit_log_path(spec, for_rollback=for_rollback)
    if path is None:
        return None
    return AuditLog(path, config=audit_config(spec.audit), origin=origin)
