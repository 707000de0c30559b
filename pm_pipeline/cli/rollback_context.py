"""What every `pm-pipeline rollback` command reads first: the spec, its rollback settings, the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pm_pipeline.cli.common import remember_secrets
from pm_pipeline.core.errors import BadInputError, IntegrityRefusal
from pm_pipeline.core.security.audit import AuditLog

if TYPE_CHECKING:
    from pm_pipeline.core.config import MigrationSpec
    from pm_pipeline.core.rollback import RollbackPlan, RollbackSettings


@dataclass(frozen=True)
class RollbackContext:
    spec_path: Path
    spec: MigrationSpec
    settings: RollbackSettings
    snapshot_root: Path
    log: AuditLog  # keyed and anchored as the spec's audit section says

    @property
    def audit_log(self) -> Path:
        return self.log.path

    @property
    def plans_dir(self) -> Path:
        return self.audit_log.parent / "plans"


def rollback_context(spec_path: Path) -> RollbackContext:
    from pm_pipeline.core.config import load_spec

    spec = load_spec(spec_path)
    remember_secrets(spec.source.url, spec.target.url)
    from pm_pipeline.core.security.settings import spec_audit_log

    settings = spec.rollback_settings
    log = spec_audit_log(spec, origin="cli", for_rollback=True)
    assert log is not None  # the rollback commands always have a log
    if log.config.anchor_url:
        remember_secrets(log.config.anchor_url)
    return RollbackContext(spec_path, spec, settings, Path(settings.snapshot_dir), log)


def require_intact_log(log: AuditLog) -> None:
    """Refuse to work on a broken audit log (a half-written last line after a crash, an edit):
    a record chained after it could not be verified, and approvals read from it cannot be trusted.
    Checked before anything is written, so a refused command leaves no snapshot or plan behind."""
    if not log.path.exists():
        return
    verification = log.verify()
    if not verification.ok:
        raise IntegrityRefusal(
            f"audit log {log.path}: line {verification.line}: {verification.problem}; nothing was done. "
            f"Repair or move the log, then check it with `pm-pipeline audit verify {log.path}`"
        )


def snapshot_folder(ctx: RollbackContext, given: Path | None) -> Path:
    from pm_pipeline.core.rollback.snapshot import latest_snapshot

    if given is not None:
        if not given.is_dir():
            raise BadInputError(f"--snapshot {given}: no such folder")
        return given
    return latest_snapshot(ctx.snapshot_root)


def build_plan(ctx: RollbackContext, folder: Path | str) -> RollbackPlan:
    from pm_pipeline.core.rollback import plan_for

    return plan_for(ctx.settings, folder, target_url=ctx.spec.target.url)


def print_table(headings: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(headings, *rows, strict=True)]
    for row in [headings, *rows]:
        line = "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        print(f"  {line}".rstrip())
