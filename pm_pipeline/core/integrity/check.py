# Over 300 lines: one table's checks in the order they run, and the checksum that closes them.
"""Every integrity check of one mapped table, run inside the databases: the fast path.

Great Expectations suites are the slow path and run separately (:mod:`.expectations`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from pm_pipeline.core.check_errors import Unit, guarded
from pm_pipeline.core.config.integrity import AggregateRule, IntegritySettings
from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors.base import THREAD_SAFE_ENGINES, Connector
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import Category, Finding, Severity, SideDigest
from pm_pipeline.core.integrity import referential, rules, temporal
from pm_pipeline.core.integrity.checksum import (
    ManifestEntry,
    checksummed,
    from_digest,
    pair_checksums,
)
from pm_pipeline.core.names import RunNames, names_from_tables
from pm_pipeline.core.reconcile import bucket, tablesum
from pm_pipeline.core.reconcile.planning import TablePlan, plan_table
from pm_pipeline.core.reconcile.sides import make_readers, pushed_columns

CHECK = "integrity"
DEFAULT_SAMPLE_LIMIT = 100
_T = TypeVar("_T")


@dataclass(frozen=True)
class IntegrityResult:
    """What the integrity checks found for one mapped table.

    ``violations`` counts every violating row (or object) per check, even beyond the sampled
    findings; ``checked`` says how many relations, rules or columns each check looked at.
    """

    table: str
    findings: tuple[Finding, ...]
    violations: Mapping[str, int] = field(default_factory=dict)
    checked: Mapping[str, int] = field(default_factory=dict)
    manifest_entry: ManifestEntry | None = None

    @property
    def passed(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


def target_key(mapping: TableMapping, source_schema: TableSchema, target_schema: TableSchema) -> list[str]:
    """Columns that identify a target row in findings: its primary key, else the mapped key."""
    if target_schema.primary_key:
        return list(target_schema.primary_key)
    names = mapping.key or list(source_schema.primary_key)
    mapped = [mapping.renames.get(name, name) for name in names]
    return mapped or list(target_schema.column_names[:3])


def check_table_integrity(
    *,
    source: Connector,
    target: Connector,
    mapping: TableMapping,
    settings: IntegritySettings,
    source_schema: TableSchema,
    target_schema: TableSchema,
    table_names: Mapping[str, str] | None = None,
    names: RunNames | None = None,
    sample_limit: int = DEFAULT_SAMPLE_LIMIT,
    source_zone: str = "UTC",
    target_zone: str = "UTC",
    digests: tuple[SideDigest, SideDigest] | None = None,
    plan: TablePlan | None = None,
) -> IntegrityResult:
    """Run referential, rule, temporal, sequence and checksum checks for one table.

    ``table_names`` maps source table names to target names (for foreign keys that reference a
    renamed table), or ``names`` the run's names (renamed parent columns too); ``sample_limit``
    bounds the findings listed per check, not what is counted; ``digests``: each side's digest
    as the reconciliation computed it, which spares the checksum a read of its own; ``plan``: the
    table's plan when the caller made it (over these schemas and zones).
    """
    table = mapping.target_name
    keys = target_key(mapping, source_schema, target_schema)
    findings: list[Finding] = []
    violations: dict[str, int] = {}
    checked: dict[str, int] = {}

    def record(name: str, count: int, found: list[Finding]) -> None:
        violations[name] = violations.get(name, 0) + count
        checked[name] = checked.get(name, 0) + 1
        findings.extend(found)

    def attempt(what: str, run: Callable[[], _T], column: str | None = None) -> _T | None:
        # One sub-check's SQL error is reported as a check_error; the other sub-checks still run.
        result, error = guarded(Unit(CHECK, what, table, column), run, connectors=(source, target))
        if error is not None:
            findings.append(error)
        return result

    def counted(
        name: str, what: str, run: Callable[[], tuple[int, list[Finding]]], column: str | None = None
    ) -> None:
        result = attempt(what, run, column)
        if result is not None:
            record(name, *result)

    relations = referential.collect_relations(
        mapping=mapping,
        source_schema=source_schema,
        target_schema=target_schema,
        declared=settings.foreign_keys_for(table),
        names=names if names is not None else names_from_tables(table_names or {}),
        target=target,
    )
    # A foreign key the target lost is a schema finding (schema/constraints.py): one defect, one
    # finding. Its rows are still counted here, as orphans under the source's relation.
    for relation in relations:
        counted(
            str(Category.ORPHAN_ROW),
            f"orphans under {relation.label}",
            partial(
                referential.orphans,
                target,
                table=table,
                relation=relation,
                key_columns=keys,
                sample_limit=sample_limit,
            ),
            ", ".join(relation.columns),
        )

    for rule in settings.rules_for(table):
        if isinstance(rule, AggregateRule):
            run = partial(rules.aggregate_rule, target, rule=rule, sample_limit=sample_limit)
        else:
            run = partial(rules.row_rule, target, rule=rule, key_columns=keys, sample_limit=sample_limit)
        counted(str(Category.RULE_VIOLATION), f"rule {rule.name}", run)

    plan = plan or plan_table(
        mapping=mapping,
        source=source_schema,
        target=target_schema,
        source_zone=source_zone,
        target_zone=target_zone,
    )
    latest = settings.latest_allowed()

    def future(name: str) -> tuple[int, list[Finding]]:
        if name not in target_schema.column_names:
            # A spec mistake (exit 2), not a check that failed: the target never had the column.
            raise BadInputError(
                f"temporal rule on {table} names column {name!r}, which the target table does not have "
                f"(its columns: {', '.join(target_schema.column_names)})"
            )
        return temporal.future_values(
            target,
            table=table,
            column=target_schema.column(name),
            latest=latest,
            key_columns=keys,
            sample_limit=sample_limit,
        )

    for temporal_rule in settings.temporal_for(table):
        if temporal_rule.created and temporal_rule.updated:
            counted(
                str(Category.TEMPORAL_VIOLATION),
                f"temporal order {temporal_rule.updated} >= {temporal_rule.created}",
                partial(
                    temporal.order_violations,
                    target,
                    table=table,
                    created=temporal_rule.created,
                    updated=temporal_rule.updated,
                    key_columns=keys,
                    sample_limit=sample_limit,
                ),
                temporal_rule.updated,
            )
        for name in temporal_rule.all_columns:
            counted(str(Category.TEMPORAL_VIOLATION), "temporal future values", partial(future, name), name)
            column_plan = next((p for p in plan.all_plans if p.target_name == name), None)
            if column_plan is not None:
                shifted = attempt(
                    "temporal range and shift",
                    partial(
                        temporal.range_and_shift,
                        source,
                        target,
                        plan=plan,
                        column=column_plan,
                        sample_rows=settings.shift_sample,
                    ),
                    name,
                )
                if shifted is not None:
                    record(str(Category.SYSTEMATIC_SHIFT), len(shifted), shifted)

    # Sequences are judged once, by the schema comparison (schema/sequences.py), which runs with or
    # without integrity: a counter behind max(key) is one defect, reported once.

    entry = None
    if settings.checksums:
        entry = attempt(
            "checksum",
            partial(
                _checksum_entry,
                source,
                target,
                table=table,
                plan=plan,
                source_schema=source_schema,
                target_schema=target_schema,
                digests=digests,
            ),
        )
        if entry is not None and entry.comparable:
            checked[str(Category.CHECKSUM_MISMATCH)] = 1
            violations[str(Category.CHECKSUM_MISMATCH)] = 0 if entry.matches else 1
            if not entry.matches:
                findings.append(_checksum_finding(table, entry))
    return IntegrityResult(
        table=table, findings=tuple(findings), violations=violations, checked=checked, manifest_entry=entry
    )


def _checksum_entry(
    source: Connector,
    target: Connector,
    *,
    table: str,
    plan: TablePlan,
    source_schema: TableSchema,
    target_schema: TableSchema,
    digests: tuple[SideDigest, SideDigest] | None,
) -> ManifestEntry:
    """Both sides' checksums: the reconciliation's own digests when it computed them, else one
    aggregate scan per side inside databases that hash rows in SQL, else a canonical re-read."""
    if digests is None:
        digests = _sql_digests(source, target, plan=plan, schemas=(source_schema, target_schema))
    if digests is not None:
        source_digest, target_digest = digests
        return ManifestEntry(
            table=table,
            source=from_digest(
                source_digest, side="source", connector=source, table=plan.table, plans=plan.all_plans
            ),
            target=from_digest(
                target_digest, side="target", connector=target, table=table, plans=plan.all_plans
            ),
        )
    kept, left = checksummed(plan.all_plans)
    source_sum, target_sum = pair_checksums(
        source,
        target,
        tables=(plan.table, table),
        plans=kept,
        excluded=([p.name for p in left], [p.target_name for p in left]),
    )
    return ManifestEntry(table=table, source=source_sum, target=target_sum)


def _sql_digests(
    source: Connector, target: Connector, *, plan: TablePlan, schemas: tuple[TableSchema, TableSchema]
) -> tuple[SideDigest, SideDigest] | None:
    if source.dialect.hashes_slowly or target.dialect.hashes_slowly:
        return None  # its SQL hash costs more than reading the rows (reconcile.choice)
    readers = make_readers(plan, source, target, *schemas)
    pushed = pushed_columns(plan, readers)
    if bucket.ineligible_reason(plan, readers, pushed) is not None:
        return None
    if source is target or not {source.engine, target.engine} <= THREAD_SAFE_ENGINES:
        return tablesum.table_digest(readers[0], plan, pushed), tablesum.table_digest(
            readers[1], plan, pushed
        )
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(tablesum.table_digest, reader, plan, pushed) for reader in readers]
        return futures[0].result(), futures[1].result()


def _checksum_finding(table: str, entry: ManifestEntry) -> Finding:
    return Finding(
        table=table,
        category=Category.CHECKSUM_MISMATCH,
        severity=Severity.ERROR,
        source_value=entry.source.checksum,
        target_value=entry.target.checksum,
        rule=f"sha256 over canonical rows of {len(entry.source.columns)} column(s)",
        message=(
            f"canonical row checksums differ: source {entry.source.rows} rows "
            f"{entry.source.checksum[:16]}..., target {entry.target.rows} rows "
            f"{entry.target.checksum[:16]}..."
        ),
        check=CHECK,
    )
