"""The ``audit:`` section of a migration spec: which log holds the tenant's chain, its key, its anchors."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pm_pipeline.core.config.sections import parse_section

# The audit log's own default (``pm_pipeline.core.security.audit.DEFAULT_KEY_ENV``), spelled here
# because the spec sits below the security layer.
DEFAULT_KEY_ENV = "PM_AUDIT_KEY"


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


def parse_audit(data: Any, *, file: str) -> AuditSettings:
    """Validate a spec's ``audit`` mapping; errors name the file and the key path (``audit.key_env``)."""
    return parse_section(AuditSettings, data, file=file, section="audit")
