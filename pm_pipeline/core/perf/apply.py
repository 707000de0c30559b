"""Applying index advice: the advised ``CREATE INDEX CONCURRENTLY`` statements as one reviewed plan,
written on the target only behind the approvals and the audit log that guard a rollback.

The plan is named by a checksum of the target and its statements, so an approval counts for exactly
the statements that were reviewed: advice that changes between two runs is a new plan. Each
statement runs outside a transaction (PostgreSQL refuses CONCURRENTLY inside one), between an audit
record before and one after; a statement that fails leaves no invalid index behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.errors import BadInputError, IntegrityRefusal, SystemFailure
from pm_pipeline.core.perf.advice import NOT_PICKED
from pm_pipeline.core.perf.model import PerfResult
from pm_pipeline.core.rollback.approvals import approvals_for
from pm_pipeline.core.security.audit import AuditLog

APPLY_STARTED_EVENT = "perf.index_apply.started"
APPLY_FINISHED_EVENT = "perf.index_apply.finished"
APPLY_FAILED_EVENT = "perf.index_apply.failed"


@dataclass(frozen=True)
class IndexPlan:
    """The index statements advised for one target, in a stable order, and their checksum."""

    target: str  # the target's masked URL
    statements: tuple[str, ...]
    tables: tuple[str, ...]  # the table of each statement, in the same order

    @property
    def checksum(self) -> str:
        body = json.dumps({"target": self.target, "statements": self.statements}, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "index_plan",
            "checksum": self.checksum,
            "target": self.target,
            "statements": list(self.statements),
        }


def index_plan(perf: PerfResult, *, target: str) -> IndexPlan:
    """Every distinct advice of the workload, except what HypoPG showed the planner would not use and
    what only a person can reproduce (a partial or expression index)."""
    advised: dict[str, str] = {}
    for query in perf.queries:
        for advice in query.advice:
            if advice.applicable and advice.proof != NOT_PICKED:
                advised.setdefault(advice.statement, advice.table)
    statements = tuple(sorted(advised))
    return IndexPlan(target=target, statements=statements, tables=tuple(advised[s] for s in statements))


def save_plan(plan: IndexPlan, *, plans_dir: Path) -> Path:
    """The plan as reviewers read it, beside the audit log, kept as rollback plans are: written
    whole (a reader never sees half a file) and once (a plan under review is never rewritten; the
    same checksum is the same statements)."""
    plans_dir.mkdir(parents=True, exist_ok=True)
    path = plans_dir / f"{plan.checksum}.json"
    with tempfile.NamedTemporaryFile(
        "w", dir=plans_dir, prefix=f".{path.name}.", suffix=".tmp", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(json.dumps(plan.to_json(), indent=2) + "\n")
    try:
        os.link(handle.name, path)  # atomic, and refused when the file exists
    except FileExistsError:
        pass
    finally:
        os.unlink(handle.name)
    return path


def require_approved(
    plan: IndexPlan, *, audit_log: AuditLog, approvals_required: int, allowed_signers: str | Path | None
) -> list[str]:
    """The approvers of ``plan``; IntegrityRefusal (nothing written) when they are too few."""
    found = approvals_for(plan.checksum, audit_log=audit_log, allowed_signers=allowed_signers)
    if len(found) < approvals_required:
        names = ", ".join(a.approver for a in found) or "none"
        raise IntegrityRefusal(
            f"--apply refused: index plan {plan.checksum[:12]} has {len(found)} approval(s) from distinct "
            f"approvers ({names}); {approvals_required} required (rollback.approvals_required). Nothing "
            f"was created"
        )
    return [a.approver for a in found]


def _invalid_indexes(conn: Any, *, schema: str, table: str) -> set[str]:
    rows = conn.execute(
        "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE n.nspname = %s AND t.relname = %s AND NOT x.indisvalid ORDER BY i.relname",
        (schema, table),
    ).fetchall()
    return {str(row[0]) for row in rows}


def apply_plan(
    plan: IndexPlan,
    *,
    target: Connector,
    audit_log: AuditLog,
    actor: str,
    approvals_required: int,
    allowed_signers: str | Path | None = None,
) -> list[str]:
    """Create the plan's indexes on ``target`` when it has its approvals; the statements run.

    Raises IntegrityRefusal without the approvals, BadInputError on a target other than PostgreSQL,
    SystemFailure (after an audit record of the failure) when a statement fails."""
    if not plan.statements:
        return []
    if not target.dialect.builds_indexes_concurrently:
        raise BadInputError(
            f"--apply creates indexes CONCURRENTLY on PostgreSQL targets only; the target is {target.engine}"
        )
    approvers = require_approved(
        plan, audit_log=audit_log, approvals_required=approvals_required, allowed_signers=allowed_signers
    )
    schema = str(getattr(target, "schema", "public"))
    base = {"plan_checksum": plan.checksum, "target": plan.target}
    audit_log.append(
        APPLY_STARTED_EVENT,
        actor=actor,
        data={**base, "statements": list(plan.statements), "approvers": approvers},
    )
    done: list[str] = []
    with target.outside_transaction() as conn:  # type: ignore[attr-defined]
        lock = target.timeouts.lock
        if lock:
            # A build queued behind a production lock would queue every later query of the table
            # behind itself: it gives up after timeouts.lock instead.
            conn.execute(f"SET lock_timeout = {max(1, round(lock * 1000))}")
        for statement, table in zip(plan.statements, plan.tables, strict=True):
            before = _invalid_indexes(conn, schema=schema, table=table)
            try:
                conn.execute(statement)
            except Exception as exc:
                # A failed CONCURRENTLY build leaves an invalid index that still slows every write.
                for leftover in sorted(_invalid_indexes(conn, schema=schema, table=table) - before):
                    conn.execute(
                        f"DROP INDEX CONCURRENTLY IF EXISTS {target.quote(schema)}.{target.quote(leftover)}"
                    )
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                audit_log.append(
                    APPLY_FAILED_EVENT,
                    actor=actor,
                    data={**base, "created": done, "failed": statement, "reason": reason},
                )
                raise SystemFailure(
                    f"--apply: {statement} failed on the target: {reason}; created before it: {len(done)}"
                ) from None
            done.append(statement)
    audit_log.append(APPLY_FINISHED_EVENT, actor=actor, data={**base, "created": done})
    return done
