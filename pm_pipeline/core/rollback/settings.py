"""The ``rollback:`` section of a migration spec, validated here because the rollback feature owns it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pm_pipeline.core.errors import SpecError

if TYPE_CHECKING:
    from pm_pipeline.core.rollback.plan import RollbackPlan


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

    def plan(self, snapshot: str | Path, *, target_url: str) -> RollbackPlan:
        """The restore plan of ``snapshot`` onto ``target_url`` under these settings."""
        from pm_pipeline.core.rollback.plan import build_plan

        return build_plan(
            snapshot,
            target_url=target_url,
            approvals_required=self.approvals_required,
            freeze_writes_sql=self.freeze_writes_sql,
            unfreeze_sql=self.unfreeze_sql,
            allowed_signers=self.allowed_signers,
        )


def parse_rollback(data: Any, *, file: str) -> RollbackSettings:
    """Validate a spec's ``rollback`` mapping; errors name the file and the key path (``rollback.tables[0]``)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(file=file, path="rollback", problem="expected a mapping")
    try:
        return RollbackSettings.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = "rollback"
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
        kind = error.get("type", "")
        problem = "unknown key (check its spelling)" if kind == "extra_forbidden" else str(error["msg"])
        raise SpecError(file=file, path=path, problem=problem) from None
