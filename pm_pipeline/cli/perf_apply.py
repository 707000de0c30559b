"""`pm-pipeline perf --apply` and `--approve`: the advised indexes created on the target only once
their plan has the approvals a rollback needs, counted from the same audit log.

The rollback section of the spec decides (``approvals_required``, ``audit_log``,
``allowed_signers``); reviewed index plans are kept beside the audit log, in ``plans/``, as rollback
plans are.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pm_pipeline.cli.common import current_user, remember_secrets
from pm_pipeline.core.errors import BadInputError, IntegrityRefusal

if TYPE_CHECKING:
    from pm_pipeline.core.config import MigrationSpec
    from pm_pipeline.core.config.rollback import RollbackSettings
    from pm_pipeline.core.perf import PerfResult
    from pm_pipeline.core.security.audit import AuditLog

_CHECKSUM = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class _Guard:
    settings: RollbackSettings
    log: AuditLog

    @property
    def plans_dir(self) -> Path:
        return self.log.path.parent / "plans"


def _guard(spec: MigrationSpec) -> _Guard:
    from pm_pipeline.core.security.settings import spec_audit_log

    settings = spec.rollback_settings
    log = spec_audit_log(spec, origin="cli", for_rollback=True)
    assert log is not None  # the rollback settings always name a log
    if log.config.anchor_url:
        remember_secrets(log.config.anchor_url)
    return _Guard(settings, log)


def approve_index_plan(args: argparse.Namespace) -> int:
    """Record one approval of a reviewed index plan; no workload runs."""
    from pm_pipeline.core.config import load_spec
    from pm_pipeline.core.rollback.approvals import INDEX_PLAN, approvals_for, approve_checksum

    checksum = str(args.approve).strip().lower()
    if not _CHECKSUM.match(checksum):
        raise BadInputError(f"--approve {args.approve!r}: expected the plan's full checksum (64 hex digits)")
    if not args.approver:
        raise BadInputError("--approve needs --approver NAME")
    spec = load_spec(args.spec)
    remember_secrets(spec.source.url, spec.target.url)
    guard = _guard(spec)
    plan_file = guard.plans_dir / f"{checksum}.json"
    if not plan_file.is_file():
        raise BadInputError(
            f"--approve: no index plan {checksum[:12]} in {guard.plans_dir}; `pm-pipeline perf --spec "
            f"{args.spec} --apply` writes the plan there for review"
        )
    approve_checksum(
        checksum,
        approver=args.approver,
        audit_log=guard.log,
        allowed_signers=guard.settings.allowed_signers,
        details={"kind": INDEX_PLAN},
        comment=args.comment,
        sign_with=args.sign_with,
    )
    found = approvals_for(checksum, audit_log=guard.log, allowed_signers=guard.settings.allowed_signers)
    print(
        f"approved index plan {checksum[:12]} ({plan_file}) as {args.approver}: "
        f"{len(found)} of {guard.settings.approvals_required} approval(s)"
    )
    return 0


def run_apply(args: argparse.Namespace, spec: MigrationSpec, perf: PerfResult) -> None:
    """After a workload run: name the index plan, and with ``--apply`` create it behind the approvals."""
    from pm_pipeline.core.connectors import open_endpoint
    from pm_pipeline.core.perf.apply import apply_plan, index_plan, save_plan
    from pm_pipeline.core.security.masking import mask_url

    plan = index_plan(perf, target=mask_url(spec.target.url))
    if not plan.statements:
        if args.apply:
            print("--apply: no index advice; nothing to create")
        return
    if not args.apply:
        print(
            f"index plan {plan.checksum}: {len(plan.statements)} statement(s); create them with --apply "
            "once approved"
        )
        return
    guard = _guard(spec)
    # Opened as a check opens it: the spec's timeouts (lock_timeout for the index builds too).
    with open_endpoint(spec.target) as target:
        if not target.dialect.builds_indexes_concurrently:
            raise BadInputError(
                f"--apply creates indexes CONCURRENTLY on PostgreSQL targets only; the target is {target.engine}"
            )
        path = save_plan(plan, plans_dir=guard.plans_dir)
        try:
            created = apply_plan(
                plan,
                target=target,
                audit_log=guard.log,
                actor=current_user(),
                approvals_required=guard.settings.approvals_required,
                allowed_signers=guard.settings.allowed_signers,
            )
        except IntegrityRefusal as exc:
            raise IntegrityRefusal(
                f"{exc}. Review {path}, then approve with: pm-pipeline perf --spec {args.spec} "
                f"--approve {plan.checksum} --approver NAME"
            ) from None
    for statement in created:
        print(f"created: {statement}")
    print(f"--apply: {len(created)} index(es) created on the target (index plan {plan.checksum[:12]})")
