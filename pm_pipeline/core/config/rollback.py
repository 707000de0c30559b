"""The ``rollback:`` section of a migration spec, validated here because the rollback feature owns it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pm_pipeline.core.config.sections import parse_section


class RollbackSettings(BaseModel):
    """Where snapshots and the audit log live, which tables are covered, how many approvals a run needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    snapshot_dir: str = Field(default="snapshots", min_length=1)
    approvals_required: int = Field(default=2, ge=1, description="distinct approvers before any write")
    freeze_writes_sql: str | None = Field(
        default=None, description="run before the restore, e.g. revoke writes"
    )
    unfreeze_sql: str | None = Field(default=None, description="run after the restore")
    audit_log: str = Field(default="audit/rollback.jsonl", min_length=1)
    tables: list[str] = Field(default_factory=list, description="target tables; default: the spec's tables")
    allowed_signers: str | None = Field(
        default=None,
        min_length=1,
        description="ssh-keygen allowed_signers file: an approval counts only when signed by a key listed there",
    )
    in_database_snapshot: bool = Field(
        default=False,
        description="PostgreSQL: also copy the tables into a schema pm_snapshot_<id> for a fast restore",
    )


def parse_rollback(data: Any, *, file: str) -> RollbackSettings:
    """Validate a spec's ``rollback`` mapping; errors name the file and the key path (``rollback.tables[0]``)."""
    return parse_section(RollbackSettings, data, file=file, section="rollback")
