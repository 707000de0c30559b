"""Rollback plans: the foreign-key graph of the snapshot's tables turned into ordered, checksummed steps."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pm_pipeline.core.config.rollback import RollbackSettings
from pm_pipeline.core.connectors import parse_url
from pm_pipeline.core.dialects import Dialect, dialect_for
from pm_pipeline.core.digest.files import file_sha256
from pm_pipeline.core.errors import BadInputError, IntegrityRefusal
from pm_pipeline.core.rollback import sql as restore_sql
from pm_pipeline.core.rollback import swap
from pm_pipeline.core.rollback.manifest import Manifest
from pm_pipeline.core.rollback.snapshot import load_manifest
from pm_pipeline.core.security.masking import mask_url

StepKind = Literal[
    "freeze_writes", "verify_snapshot", "export_changes", "check_approvals", "stage_table",
    "apply_restore", "verify_restore", "reconcile", "unfreeze_writes",
]  # fmt: skip


@dataclass(frozen=True)
class PlanStep:
    name: str  # a valid Dagster op name
    kind: StepKind
    description: str
    depends_on: tuple[str, ...]
    table: str | None = None
    sql: tuple[str, ...] = ()
    destructive: bool = False


@dataclass(frozen=True)
class RollbackPlan:
    snapshot_dir: str
    snapshot_id: str
    target_url: str
    engine: str
    load_order: tuple[str, ...]  # parents before children; emptying runs in reverse
    deferred_cycles: tuple[tuple[str, ...], ...]
    steps: tuple[PlanStep, ...]
    approvals_required: int
    checksum: str
    allowed_signers: str | None = None  # approvals count only when signed by a key listed there

    def step(self, name: str) -> PlanStep:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    @property
    def export_dir(self) -> Path:
        """Where rows changed since the snapshot are exported before any write, by default."""
        return Path(self.snapshot_dir) / "exports"

    def describe(self) -> str:
        return "\n".join(f"{i + 1}. {s.name}: {s.description}" for i, s in enumerate(self.steps))


def fk_order(manifest: Manifest) -> tuple[list[str], list[list[str]]]:
    """Tables parents-first, and the FK cycles (each a list of tables, self references included)."""
    names = [t.name for t in manifest.tables]
    parents = {
        t.name: {
            fk.ref_table for fk in t.schema.foreign_keys if fk.ref_table in names and fk.ref_table != t.name
        }
        for t in manifest.tables
    }
    cycles = [
        [t.name] for t in manifest.tables if any(fk.ref_table == t.name for fk in t.schema.foreign_keys)
    ]
    order: list[str] = []
    remaining = dict(parents)
    while remaining:
        ready = sorted(name for name, deps in remaining.items() if not deps - set(order))
        if not ready:
            cycle = sorted(remaining)  # every table still waiting is in or behind a cycle
            cycles.append(cycle)
            order.extend(cycle)
            break
        order.extend(ready)
        for name in ready:
            remaining.pop(name)
    return order, cycles


def _check_cycles(manifest: Manifest, cycles: list[list[str]], dialect: Dialect) -> None:
    if not cycles:
        return
    if dialect.foreign_key_deferral == "all":
        return  # the restore session turns foreign-key checks off or defers them all
    if dialect.foreign_key_deferral == "deferrable":
        for cycle in cycles:
            for name in cycle:
                entry = manifest.table(name)
                blocking = [
                    fk.name
                    for fk in entry.schema.foreign_keys
                    if fk.ref_table in cycle and fk.name not in entry.deferrable_fks
                ]
                if blocking:
                    raise IntegrityRefusal(
                        f"rollback plan refused: tables {', '.join(cycle)} form a foreign-key cycle and "
                        f"constraint(s) {', '.join(str(b) for b in blocking)} on {name} are not DEFERRABLE; "
                        "declare them DEFERRABLE or restore these tables by hand"
                    )
        return
    raise IntegrityRefusal(
        f"rollback plan refused: {manifest.engine} cannot defer foreign keys and tables "
        f"{', '.join(cycles[0])} form a cycle"
    )


def _op_name(prefix: str, table: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in table)
    return f"{prefix}_{safe}"


def _apply_step(
    manifest: Manifest, order: list[str], cycles: list[list[str]], target_url: str, after: tuple[str, ...]
) -> PlanStep:
    if not dialect_for(manifest.engine).supports_transactional_ddl:
        database = parse_url(target_url).database or ""
        statements = swap.describe_swap(manifest, order=order, database=database)
        description = (
            f"load shadow tables in {swap.helper_databases(database)[0]} from the snapshot files, verify "
            "their checksums, then swap them in with one atomic RENAME TABLE (indexes, foreign keys and "
            "AUTO_INCREMENT come with them)"
        )
    else:
        statements = restore_sql.describe_apply(manifest, order=order, defer=bool(cycles))
        source = "the in-database copy (Parquet if it no longer verifies)" if manifest.db_copy else "Parquet"
        description = (
            "in one transaction: empty children before parents, load parents before children from "
            f"{source}, restore indexes and constraints, reset sequences"
        )
    return PlanStep(
        "apply_restore", "apply_restore", description, after, sql=tuple(statements), destructive=True
    )


def build_plan(
    snapshot: str | Path,
    *,
    target_url: str,
    approvals_required: int = 2,
    freeze_writes_sql: str | None = None,
    unfreeze_sql: str | None = None,
    allowed_signers: str | Path | None = None,
) -> RollbackPlan:
    """Plan the restore of the snapshot in folder ``snapshot`` onto ``target_url``. Refuses unsafe FK cycles."""
    manifest = load_manifest(snapshot)
    order, cycles = fk_order(manifest)
    engine = manifest.engine
    dialect = dialect_for(engine)
    _check_cycles(manifest, cycles, dialect)
    if dialect.checks_deleted_children and any(
        fk.ref_table in order for entry in manifest.tables for fk in entry.schema.foreign_keys
    ):
        # DuckDB checks a parent's DELETE against child rows deleted earlier in the same transaction.
        raise IntegrityRefusal(
            "rollback plan refused: DuckDB cannot empty a parent table and its children in one "
            "transaction; snapshot and restore tables without foreign keys between them"
        )
    steps: list[PlanStep] = []
    last: tuple[str, ...] = ()
    if freeze_writes_sql:
        steps.append(
            PlanStep(
                "freeze_writes", "freeze_writes", "run the freeze-writes hook", (), sql=(freeze_writes_sql,)
            )
        )
        last = ("freeze_writes",)
    copies = f" and the in-database copies in {manifest.db_copy.schema}" if manifest.db_copy else ""
    steps.append(
        PlanStep(
            "verify_snapshot",
            "verify_snapshot",
            f"re-read every snapshot file{copies} and check the checksums",
            last,
        )
    )
    steps.append(
        PlanStep(
            "export_changes",
            "export_changes",
            "export rows changed since the snapshot to a side file",
            ("verify_snapshot",),
        )
    )
    steps.append(
        PlanStep(
            "check_approvals",
            "check_approvals",
            f"require {approvals_required} distinct approvals of this plan",
            ("export_changes",),
        )
    )
    stage_names: dict[str, str] = {}
    for name in order:
        entry = manifest.table(name)
        parents = sorted({fk.ref_table for fk in entry.schema.foreign_keys if fk.ref_table in stage_names})
        deps = tuple(stage_names[p] for p in parents) or ("check_approvals",)
        stage_names[name] = _op_name("stage", name)
        steps.append(
            PlanStep(
                stage_names[name],
                "stage_table",
                f"read and verify the snapshot rows of {name}",
                deps,
                table=name,
            )
        )
    steps.append(_apply_step(manifest, order, cycles, target_url, tuple(stage_names[name] for name in order)))
    steps.append(
        PlanStep(
            "verify_restore",
            "verify_restore",
            "recompute every table's checksum and compare with the manifest",
            ("apply_restore",),
        )
    )
    steps.append(
        PlanStep(
            "reconcile",
            "reconcile",
            "reconcile every restored table row by row against its snapshot file; any difference fails",
            ("verify_restore",),
        )
    )
    if unfreeze_sql:
        steps.append(
            PlanStep(
                "unfreeze_writes",
                "unfreeze_writes",
                "run the unfreeze hook",
                ("reconcile",),
                sql=(unfreeze_sql,),
            )
        )
    body = {
        "snapshot": manifest.snapshot_id,
        "tables": [[t.name, t.rows, t.checksum, t.file_sha256] for t in manifest.tables],
        "target": mask_url(target_url),
        "approvals_required": approvals_required,
        "steps": [[s.name, s.kind, list(s.depends_on), list(s.sql)] for s in steps],
    }
    if allowed_signers is not None:
        # Who may sign is part of what is approved: another signers file is another plan.
        body["allowed_signers_sha256"] = _signers_sha256(Path(allowed_signers))
    checksum = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return RollbackPlan(
        snapshot_dir=manifest.directory,
        snapshot_id=manifest.snapshot_id,
        target_url=target_url,
        engine=engine,
        load_order=tuple(order),
        deferred_cycles=tuple(tuple(c) for c in cycles),
        steps=tuple(steps),
        approvals_required=approvals_required,
        checksum=checksum,
        allowed_signers=None if allowed_signers is None else str(allowed_signers),
    )


def _signers_sha256(path: Path) -> str:
    try:
        return file_sha256(path)
    except FileNotFoundError:
        raise BadInputError(f"rollback.allowed_signers: {path} does not exist") from None


def plan_for(settings: RollbackSettings, snapshot: str | Path, *, target_url: str) -> RollbackPlan:
    """The restore plan of ``snapshot`` onto ``target_url`` under a spec's rollback settings."""
    return build_plan(
        snapshot,
        target_url=target_url,
        approvals_required=settings.approvals_required,
        freeze_writes_sql=settings.freeze_writes_sql,
        unfreeze_sql=settings.unfreeze_sql,
        allowed_signers=settings.allowed_signers,
    )
