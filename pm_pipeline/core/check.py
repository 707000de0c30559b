"""One mapped table on both sides, built once, and the checks both front doors run on it.

A :class:`TablePair` holds what every check of a table needs: both connectors, the mapping as the
spec has it now, both schemas (read once), the run's names on both sides and both endpoints (their
declared time zones). The CLI's whole check (:func:`pm_pipeline.core.run.run_check`) and the
Dagster assets build one per table and call the same three checks on it, so names, types and
declared rules mean the same thing in each: :func:`reconcile`, :func:`compare_schema` and
:func:`check_integrity`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path

from pm_pipeline.core.check_errors import Unit, guarded
from pm_pipeline.core.config.integrity import IntegritySettings
from pm_pipeline.core.config.spec import Endpoint, MigrationSpec, TableMapping
from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.connectors.schema import TableSchema, TypeFamily
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import ColumnFacts, Finding, SideDigest, TableReconciliation
from pm_pipeline.core.integrity import (
    HeadStart,
    ManifestEntry,
    check_table_integrity,
    run_expectations,
    start_profile,
)
from pm_pipeline.core.names import RunNames, names_from_mappings
from pm_pipeline.core.reconcile import ReconcileOptions, reconcile_table
from pm_pipeline.core.reconcile.planning import TablePlan, plan_table
from pm_pipeline.core.reconcile.stash import Progress
from pm_pipeline.core.schema import (
    ColumnProfile,
    SchemaComparison,
    compare_schemas,
    key_max,
    profile_columns,
    profiled_columns,
)


@dataclass(frozen=True)
class TablePair:
    """One mapped table on both sides, as every check of a run sees it."""

    source: Connector
    target: Connector
    mapping: TableMapping
    source_schema: TableSchema
    target_schema: TableSchema
    names: RunNames
    source_endpoint: Endpoint | None = None
    target_endpoint: Endpoint | None = None

    @property
    def zones(self) -> tuple[str | None, str | None]:
        """The time zones the endpoints declare for naive timestamps (None: not declared)."""
        return (
            None if self.source_endpoint is None else self.source_endpoint.timezone,
            None if self.target_endpoint is None else self.target_endpoint.timezone,
        )

    @cached_property
    def plan(self) -> TablePlan:
        """How each column pair is compared (planned once, for every check of the pair); naive
        timestamps are read in the declared zones, else in UTC."""
        source_zone, target_zone = self.zones
        return plan_table(
            mapping=self.mapping,
            source=self.source_schema,
            target=self.target_schema,
            source_zone=source_zone or "UTC",
            target_zone=target_zone or "UTC",
        )

    @classmethod
    def build(
        cls,
        *,
        source: Connector,
        target: Connector,
        mapping: TableMapping,
        spec: MigrationSpec | None = None,
        mappings: Sequence[TableMapping] | None = None,
        names: RunNames | None = None,
        schemas: tuple[TableSchema, TableSchema] | None = None,
    ) -> TablePair:
        """The pair of ``mapping``: schemas as given (read once for the run) or read now; the run's
        names as given, or those of ``mappings`` (the run's tables; default: this one)."""
        source_schema, target_schema = schemas or (
            source.introspect(mapping.source),
            target.introspect(mapping.target_name),
        )
        return cls(
            source=source,
            target=target,
            mapping=mapping,
            source_schema=source_schema,
            target_schema=target_schema,
            names=names if names is not None else names_from_mappings(mappings or (mapping,)),
            source_endpoint=None if spec is None else spec.source,
            target_endpoint=None if spec is None else spec.target,
        )


def reconcile(
    pair: TablePair, *, options: ReconcileOptions | None = None, progress: Progress | None = None
) -> TableReconciliation:
    """Rows and values of the pair compared (see :func:`pm_pipeline.core.reconcile.reconcile_table`)."""
    return reconcile_table(
        source=pair.source,
        target=pair.target,
        mapping=pair.mapping,
        source_endpoint=pair.source_endpoint,
        target_endpoint=pair.target_endpoint,
        options=options,
        progress=progress,
        source_schema=pair.source_schema,
        target_schema=pair.target_schema,
        plan=pair.plan,
    )


def compare_schema(pair: TablePair) -> SchemaComparison:
    """Schema findings of the pair, with value profiles (pushdown aggregates) for rename suggestions
    and width checks, and max(key) for the target's sequences. A database error on the way gives a
    comparison holding one check_error finding instead."""
    compared, error = guarded(
        Unit("schema", "schema comparison", pair.mapping.source),
        partial(_compare_schema, pair),
        connectors=(pair.source, pair.target),
    )
    if compared is not None:
        return compared
    assert error is not None
    return SchemaComparison(
        table=pair.mapping.source, target_table=pair.mapping.target_name, column_map={}, findings=(error,)
    )


def _profiles(
    connector: Connector, table: str, schema: TableSchema, columns: set[str]
) -> dict[str, ColumnProfile]:
    """Value profiles of ``columns`` only (each profile is a scan of the whole table)."""
    if not columns:
        return {}
    wanted = tuple(col for col in schema.columns if col.name in columns)
    return profile_columns(connector, table, dataclasses.replace(schema, columns=wanted))


def _compare_schema(pair: TablePair) -> SchemaComparison:
    source, target, mapping = pair.source, pair.target, pair.mapping
    source_schema, target_schema = pair.source_schema, pair.target_schema
    counters = {seq.column for seq in target_schema.sequences if seq.column} | {
        col.name for col in target_schema.columns if col.identity
    }
    maxima: dict[str, int] = {}
    for name in sorted(counters):
        column = next((c for c in target_schema.columns if c.name == name), None)
        if column is not None and column.family is TypeFamily.INTEGER:
            value = key_max(target, mapping.target_name, name)
            if value is not None:
                maxima[name] = value
    wanted_source, wanted_target = profiled_columns(
        mapping.source,
        source_schema,
        target_schema,
        source_engine=source.engine,
        target_engine=target.engine,
        mapping=mapping,
    )
    return compare_schemas(
        table=mapping.source,
        source=source_schema,
        target=target_schema,
        source_engine=source.engine,
        target_engine=target.engine,
        mapping=mapping,
        source_profiles=_profiles(source, mapping.source, source_schema, wanted_source),
        target_profiles=_profiles(target, mapping.target_name, target_schema, wanted_target),
        target_key_max=maxima,
        names=pair.names,
    )


def check_integrity(
    pair: TablePair,
    *,
    settings: IntegritySettings,
    data_docs_dir: Path | None = None,
    digests: tuple[SideDigest, SideDigest] | None = None,
    facts: ColumnFacts | None = None,
    early: HeadStart | None = None,
) -> tuple[tuple[Finding, ...], ManifestEntry | None]:
    """Integrity findings of the pair (referential, rules, temporal, sequences, checksums, and the
    expectation suite run inside the target) and its checksum manifest entry. ``digests`` are the
    reconciliation's own checksums of both sides, when its pass computed them; ``facts`` what it
    learned of some columns (``TableReconciliation.column_facts``); ``early`` the expectations'
    profile started beside it (:func:`early_profile`)."""
    try:
        return _check_integrity(
            pair, settings=settings, data_docs_dir=data_docs_dir, digests=digests, facts=facts, early=early
        )
    except BadInputError as exc:
        raise BadInputError(f"table {pair.mapping.source}: integrity: {exc}") from exc


def early_profile(
    pair: TablePair, *, settings: IntegritySettings, whole_read: bool = False
) -> HeadStart | None:
    """The profile the generated expectations of the pair will be drawn from, ahead of them:
    measured on the reconciliation's read of the whole source table where that read is to come
    (``whole_read``; a :class:`ReadProfile`, whose tap the reconciliation must carry), else started
    now on a connection of its own, to run beside the reconciliation (None where it waits its
    turn). The caller closes it after :func:`check_integrity`."""
    if not (settings.gx.enabled and settings.gx.generate):
        return None
    try:
        return start_profile(
            pair.source,
            pair.target,
            plan=pair.plan,
            zones_known=None not in pair.zones,
            source_schema=pair.source_schema,
            whole_read=whole_read,
        )
    except Exception:
        # The expectations build the same statement again in their turn, where a failure is a
        # check_error finding of their own: here it only forgoes the head start.
        return None


def _check_integrity(
    pair: TablePair,
    *,
    settings: IntegritySettings,
    data_docs_dir: Path | None,
    digests: tuple[SideDigest, SideDigest] | None,
    facts: ColumnFacts | None = None,
    early: HeadStart | None = None,
) -> tuple[tuple[Finding, ...], ManifestEntry | None]:
    source, target, mapping = pair.source, pair.target, pair.mapping
    # The zones the spec declares, or none: a guessed zone must not judge a range.
    source_zone, target_zone = pair.zones
    result = check_table_integrity(
        source=source,
        target=target,
        mapping=mapping,
        settings=settings,
        source_schema=pair.source_schema,
        target_schema=pair.target_schema,
        names=pair.names,
        source_zone=source_zone or "UTC",
        target_zone=target_zone or "UTC",
        digests=digests,
        plan=pair.plan,
    )
    findings = list(result.findings)
    if settings.gx.enabled:
        # The suite runs as a whole (Great Expectations validates it in one call).
        expectations, error = guarded(
            Unit("integrity", "expectation suite", mapping.target_name),
            partial(
                run_expectations,
                source=source,
                target=target,
                mapping=mapping,
                settings=settings,
                source_schema=pair.source_schema,
                target_schema=pair.target_schema,
                data_docs_dir=None if data_docs_dir is None else str(data_docs_dir),
                source_zone=source_zone,
                target_zone=target_zone,
                plan=pair.plan,
                facts=facts,
                early=early,
            ),
            connectors=(source, target),
        )
        findings.extend(expectations.findings if expectations is not None else [error] if error else [])
    return tuple(findings), result.manifest_entry
