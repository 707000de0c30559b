"""The ``audit:`` section of a migration spec: which log holds the tenant's chain, its key, its anchors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pm_pipeline.core.errors import SpecError
from pm_pipeline.core.security.audit import DEFAULT_KEY_ENV, AuditConfig, AuditLog

if TYPE_CHECKING:
    from pm_pipeline.core.config import MigrationSpec


class AuditSettings(BaseModel):
    """Every action of this spec (checks, reports, snapshots, plans, approvals, restores) goes to ``log``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    log: str | None = Field(
        default=None, min_length=1, description="the audit log (JSON lines); default: rollback.audit_log"
    )
    key_env: str = Field(
        default=DEFAULT_KEY_ENV,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="environment variable holding the HMAC key of the chain",
    )
    require_key: bool = Field(default=False, description="refuse to write or verify without the key")
    anchor_file: str | None = Field(
        default=None, min_length=1, description="where the head is anchored; default: <log>.anchor.json"
    )
    file_anchor: bool = Field(default=True, description="anchor the head in a file at all")
    anchor_url: str | None = Field(
        default=None, description="PostgreSQL URL: the head is also anchored in table pm_audit_anchors"
    )

    @field_validator("anchor_url")
    @classmethod
    def _postgres(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^postgres(?:ql)?(?:\+\w+)?://", value):
            raise ValueError("expected a PostgreSQL URL (postgresql://user@host/db)")
        return value

    def config(self) -> AuditConfig:
        return AuditConfig(
            key_env=self.key_env,
            require_key=self.require_key,
            anchor_file=self.anchor_file,
            file_anchor=self.file_anchor,
            anchor_url=self.anchor_url,
        )


def parse_audit(data: Any, *, file: str) -> AuditSettings:
    """Validate a spec's ``audit`` mapping; errors name the file and the key path (``audit.key_env``)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(file=file, path="audit", problem="expected a mapping")
    try:
        return AuditSettings.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = "audit" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        kind = error.get("type", "")
        problem = "unknown key (check its spelling)" if kind == "extra_forbidden" else str(error["msg"])
        raise SpecError(file=file, path=path, problem=problem.removeprefix("Value error, ")) from None


def audit_log_path(spec: MigrationSpec, *, file: str, for_rollback: bool = False) -> Path | None:
    """The spec's audit log: ``audit.log``; for the rollback commands ``rollback.audit_log`` when set
    (else ``audit.log``, else the rollback default). None when checks are not audited (no ``audit.log``)."""

    settings = parse_audit(spec.audit, file=file)
    if not for_rollback:
        return None if settings.log is None else Path(settings.log)
    rollback = spec.rollback_settings
    if "audit_log" in rollback.model_fields_set or settings.log is None:
        return Path(rollback.audit_log)
    return Path(settings.log)


def spec_audit_log(
    spec: MigrationSpec, *, file: str, origin: str, for_rollback: bool = False
) -> AuditLog | None:
    """The spec's audit log, keyed and anchored as its ``audit`` section says."""
    path = audit_log_path(spec, file=file, for_rollback=for_rollback)
    if path is None:
        return None
    return AuditLog(path, config=parse_audit(spec.audit, file=file).config(), origin=origin)
