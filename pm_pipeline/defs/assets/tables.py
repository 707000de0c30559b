# Over 300 lines: the per-table assets (observations, reconciliation, schema, integrity, verdict) built from one look and one set of keys.
"""Per mapped table: observed source and target tables, the reconciliation diff, and its verdict.

``reconciliation/<table>`` always materializes the diff, whatever it finds, so reports downstream
of it are produced even for a failed migration. ``verified/<table>`` carries the blocking checks:
when they fail, the run fails and nothing downstream of the verdict (cutover steps) runs. A table
the spec splits into ``partitions`` is reconciled bucket by bucket (see ``partitions``).
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from pm_pipeline.core.check import TablePair, check_integrity, compare_schema, reconcile
from pm_pipeline.core.check_errors import Unit, guarded, unreconciled
from pm_pipeline.core.config import MigrationSpec, TableMapping
from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.findings import Finding, Severity, TableReconciliation
from pm_pipeline.core.integrity import ManifestEntry
from pm_pipeline.core.monitor import metrics
from pm_pipeline.core.reconcile import ReconcileOptions
from pm_pipeline.core.reconcile.verdict import CHECK_NAMES, CheckOutcome, evaluate_table
from pm_pipeline.core.report import Redactor, pseudonymiser_for, redactor_for
from pm_pipeline.core.run import expected_rows_per_side
from pm_pipeline.core.schema import SchemaComparison
from pm_pipeline.defs.common import (
    TABLE_TAG,
    ServerVersions,
    TableKeys,
    current_mapping,
    remove_stale_diffs,
    safe_name,
    stored,
    table_keys,
    table_metadata,
)
from pm_pipeline.defs.partitions import build_bucket_assets
from pm_pipeline.defs.presentation import (
    CHECK_DESCRIPTIONS,
    SIDE_TAG,
    check_metadata,
    engine_kind,
    engine_tags,
    observations,
    owners,
)
from pm_pipeline.defs.progress import ProgressLog
from pm_pipeline.defs.resources import MigrationResource


@dataclass(frozen=True)
class Look:
    """What every asset of the migration shows in the UI besides its own description."""

    engines: tuple[str, str]
    owners: tuple[str, ...]
    tags: dict[str, str]


def _observed(key: dg.AssetKey, mapping: TableMapping, side: str, look: Look) -> dg.AssetsDefinition:
    table = mapping.source
    engine = look.engines[0 if side == "source" else 1]
    name = table if side == "source" else mapping.target_name
    spec = dg.AssetSpec(
        key,
        group_name=f"{side}_tables",
        kinds={engine},
        owners=list(look.owners),
        tags={**look.tags, TABLE_TAG: safe_name(table), SIDE_TAG: side},
        description=(
            f"The {side} table {name} ({engine}), read by the checks and never written: its row count "
            "and column schema, observed by this asset, by every run that reconciles it and by the "
            "drift sensor."
        ),
    )

    @dg.multi_observable_source_asset(specs=[spec], name=f"observe_{side}_{safe_name(table)}")  # type: ignore[untyped-decorator]
    def _observe(migration: MigrationResource) -> dg.ObserveResult:
        spec = migration.spec()
        with migration.open(spec.source if side == "source" else spec.target) as connector:
            name = table if side == "source" else current_mapping(spec, mapping).target_name
            schema = connector.introspect(name)
            rows = connector.row_count(name)
        columns = dg.TableSchema(
            columns=[dg.TableColumn(c.name, c.data_type, description=str(c.family)) for c in schema.columns]
        )
        return dg.ObserveResult(
            asset_key=key,
            data_version=dg.DataVersion(f"{rows}:{len(schema.columns)}"),
            metadata={"row_count": dg.MetadataValue.int(rows), "dagster/column_schema": columns},
        )

    observe: dg.AssetsDefinition = _observe
    return observe


def _pair(
    unit: Unit,
    spec: MigrationSpec,
    source: Connector,
    target: Connector,
    mapping: TableMapping,
    mappings: Sequence[TableMapping],
) -> tuple[TablePair | None, Finding | None]:
    """The table's pair, both schemas read, or the check_error finding of ``unit`` if reading failed."""
    return guarded(
        unit,
        lambda: TablePair.build(source=source, target=target, mapping=mapping, spec=spec, mappings=mappings),
        connectors=(source, target),
    )


def _reconciliation(
    mapping: TableMapping, keys: TableKeys, look: Look, mappings: Sequence[TableMapping]
) -> dg.AssetsDefinition:
    @dg.asset(
        key=keys.reconciliation,
        deps=[keys.source, keys.target],
        group_name="reconciliation",
        kinds={"duckdb", *look.engines},
        owners=list(look.owners),
        tags={**look.tags, TABLE_TAG: safe_name(mapping.source)},
        description=(
            f"Row- and column-level diff of {mapping.source} (source) against {mapping.target_name} (target): "
            "missing, extra, duplicate and changed rows, each difference with raw and canonical values and the rule."
        ),
    )
    def _reconcile(
        context: AssetExecutionContext, migration: MigrationResource
    ) -> dg.Output[TableReconciliation]:
        spec = migration.spec()
        diff_dir = migration.reports_directory() / "diffs"
        current = current_mapping(spec, mapping)
        with migration.connections(spec) as (source, target):
            expected = expected_rows_per_side(source=source, target=target, mapping=current)
            progress = ProgressLog(mapping.source, expected, context.log.info)
            options = ReconcileOptions(
                thresholds=spec.thresholds, diff_dir=diff_dir, redactor=redactor_for(spec)
            )
            reconciled, error = guarded(
                Unit("reconciliation", "reconciliation", mapping.source),
                lambda: reconcile(
                    TablePair.build(
                        source=source, target=target, mapping=current, spec=spec, mappings=mappings
                    ),
                    options=options,
                    progress=progress,
                ),
                connectors=(source, target),
            )
        if reconciled is None:
            # The reports downstream still need this table: it stands there as not reconciled.
            assert error is not None
            context.log.error(error.message)
            result = unreconciled(table=mapping.source, target_table=current.target_name, error=error)
            return dg.Output(stored(result, spec), metadata=table_metadata(result, redactor_for(spec)))
        result = reconciled
        context.log.info(progress.finished(result) + f", match score {result.match_score:.4%}")
        # Bucket folders of an earlier partitioned reconciliation would mix into this diff.
        for path in remove_stale_diffs(diff_dir / mapping.source, buckets=0):
            context.log.info(f"{mapping.source}: removed {path}, which is no longer part of the table's diff")
        return dg.Output(stored(result, spec), metadata=table_metadata(result, redactor_for(spec)))

    return _reconcile


def _schema(
    mapping: TableMapping, keys: TableKeys, look: Look, mappings: Sequence[TableMapping]
) -> dg.AssetsDefinition:
    @dg.asset(
        key=keys.schema,
        deps=[keys.source, keys.target],
        group_name="reconciliation",
        kinds=set(look.engines),
        owners=list(look.owners),
        tags={**look.tags, TABLE_TAG: safe_name(mapping.source)},
        description=(
            f"Schema diff of {mapping.source}: missing, extra and renamed columns (with suggested mappings), "
            "narrowed types, nullability, defaults, keys, constraints, indexes, foreign keys and sequences."
        ),
    )
    def _schema_diff(
        context: AssetExecutionContext, migration: MigrationResource
    ) -> dg.Output[SchemaComparison]:
        spec = migration.spec()
        current = current_mapping(spec, mapping)
        with migration.connections(spec) as (source, target):
            pair, error = _pair(
                Unit("schema", "schema comparison", mapping.source), spec, source, target, current, mappings
            )
            if pair is not None:
                comparison = compare_schema(pair)
            else:
                assert error is not None
                comparison = SchemaComparison(
                    table=mapping.source, target_table=current.target_name, column_map={}, findings=(error,)
                )
        by_category = Counter(str(f.category) for f in comparison.findings)
        lines = ["| category | column | source | target | severity | why |", "|---|---|---|---|---|---|"]
        lines += [
            f"| {f.category} | {f.column or ''} | {f.source_value or ''} | {f.target_value or ''} | {f.severity} | "
            f"{f.message.replace('|', '/')} |"
            for f in comparison.findings[:50]
        ]
        return dg.Output(
            comparison,
            metadata={
                "findings": dg.MetadataValue.int(len(comparison.findings)),
                "by_category": dg.MetadataValue.json(dict(by_category)),
                "column_map": dg.MetadataValue.json(dict(comparison.column_map)),
                "details": dg.MetadataValue.md("\n".join(lines) if comparison.findings else "Schemas match."),
            },
        )

    return _schema_diff


@dataclass(frozen=True)
class IntegrityOutput:
    """What the integrity asset hands downstream: its findings, the table's checksum entry, and the
    servers it checked (which the report names)."""

    findings: tuple[Finding, ...]
    manifest_entry: ManifestEntry | None
    servers: ServerVersions | None = None  # None in outputs stored before versions were carried


def _integrity(
    mapping: TableMapping, keys: TableKeys, look: Look, mappings: Sequence[TableMapping]
) -> dg.AssetsDefinition:
    @dg.asset(
        key=keys.integrity,
        deps=[keys.source, keys.target],
        group_name="integrity",
        kinds=set(look.engines),
        owners=list(look.owners),
        tags={**look.tags, TABLE_TAG: safe_name(mapping.source)},
        description=(
            f"Integrity of the migrated {mapping.target_name}: orphans under foreign keys, business and temporal "
            "rules, sequences, canonical checksums on both sides, and the expectation suite run inside the target."
        ),
    )
    def _check_integrity(
        context: AssetExecutionContext, migration: MigrationResource
    ) -> dg.Output[IntegrityOutput]:
        spec = migration.spec()
        current = current_mapping(spec, mapping)
        with migration.connections(spec) as (source, target):
            servers = ServerVersions.of(source=source, target=target)
            pair, error = _pair(
                Unit("integrity", "introspection", current.target_name),
                spec,
                source,
                target,
                current,
                mappings,
            )
            findings: tuple[Finding, ...] = (error,) if error is not None else ()
            entry = None
            if pair is not None:
                findings, entry = check_integrity(
                    pair, settings=spec.integrity, data_docs_dir=migration.reports_directory() / "data-docs"
                )
        by_category = Counter(str(f.category) for f in findings)
        failures = sum(1 for f in findings if f.severity is Severity.ERROR)
        metadata: dict[str, Any] = {
            metrics.INTEGRITY_FAILURES: dg.MetadataValue.int(failures),
            "by_category": dg.MetadataValue.json(dict(by_category)),
        }
        if entry is not None:
            metadata["target_checksum"] = entry.target.to_json().get("checksum", "")
        kept = tuple(map(pseudonymiser_for(spec).redact, findings))
        return dg.Output(
            IntegrityOutput(findings=kept, manifest_entry=entry, servers=servers), metadata=metadata
        )

    return _check_integrity


def _check_result(outcome: CheckOutcome, redactor: Redactor, table: str) -> dg.AssetCheckResult:
    severity = (
        dg.AssetCheckSeverity.ERROR if outcome.severity is Severity.ERROR else dg.AssetCheckSeverity.WARN
    )
    metadata = {k: v for k, v in outcome.metadata.items() if v is not None}
    if "sample_keys" in metadata:
        metadata["sample_keys"] = [redactor.mask_key(table, key) for key in metadata["sample_keys"]]
    return dg.AssetCheckResult(
        check_name=outcome.name,
        passed=outcome.passed,
        severity=severity,
        description=outcome.description,
        metadata={
            k: dg.MetadataValue.json(v) if isinstance(v, list | dict) else v
            for k, v in check_metadata(metadata).items()
        },
    )


def _verified(mapping: TableMapping, keys: TableKeys, look: Look) -> dg.AssetsDefinition:
    @dg.asset(
        key=keys.verified,
        ins={
            "reconciliation": dg.AssetIn(key=keys.reconciliation),
            "schema": dg.AssetIn(key=keys.schema),
            "integrity": dg.AssetIn(key=keys.integrity),
        },
        group_name="verification",
        kinds={"python"},
        owners=list(look.owners),
        tags={**look.tags, TABLE_TAG: safe_name(mapping.source)},
        description=(
            f"Verdict on {mapping.source}: whether it is ready for cut-over, from four blocking checks "
            "against the spec's thresholds (rows, values, schema, integrity). A failing check fails the run "
            "and stops whatever depends on the verdict; the reports are written anyway."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                name,
                asset=keys.verified,
                blocking=True,
                description=f"{mapping.source}: {CHECK_DESCRIPTIONS[name]}",
            )
            for name in CHECK_NAMES
        ],
    )
    def _verify(
        context: AssetExecutionContext,
        migration: MigrationResource,
        reconciliation: TableReconciliation,
        schema: SchemaComparison,
        integrity: IntegrityOutput,
    ) -> Any:
        spec = migration.spec()
        outcomes = evaluate_table(
            reconciliation,
            thresholds=spec.thresholds,
            schema_findings=schema.findings,
            integrity_findings=integrity.findings,
            mapping=current_mapping(spec, mapping),
        )
        passed = all(o.passed for o in outcomes)
        # The tables were read for this verdict: their counts are the latest observation of both sides.
        for observation in observations(
            source=keys.source, target=keys.target, result=reconciliation, observer=f"run {context.run_id}"
        ):
            context.log_event(observation)
        yield dg.Output(
            passed, metadata={**table_metadata(reconciliation, redactor_for(spec)), "passed": passed}
        )
        for outcome in outcomes:
            yield _check_result(outcome, redactor_for(spec), mapping.source)

    return _verify


def _dressed(look: Look, spec: dg.AssetSpec) -> dg.AssetSpec:
    """A bucket asset's spec with the owners and engine tags every other asset of the table has."""
    return spec.replace_attributes(owners=list(look.owners), tags={**look.tags, **spec.tags})


def build_table_assets(
    spec: MigrationSpec, mappings: Sequence[TableMapping]
) -> tuple[list[Any], list[TableKeys]]:
    """Observable source/target tables, reconciliation and verification assets for every mapping."""
    engines = (engine_kind(spec.source.url), engine_kind(spec.target.url))
    look = Look(
        engines=engines, owners=tuple(owners(spec)), tags=engine_tags(source=engines[0], target=engines[1])
    )
    assets: list[Any] = []
    all_keys: list[TableKeys] = []
    for mapping in mappings:
        keys = table_keys(mapping.source)
        all_keys.append(keys)
        reconciliation = (
            [
                assets_def.map_asset_specs(partial(_dressed, look))
                for assets_def in build_bucket_assets(mapping, keys, engines, mapping.partitions)
            ]
            if mapping.partitions
            else [_reconciliation(mapping, keys, look, mappings)]
        )
        assets += [
            _observed(keys.source, mapping, "source", look),
            _observed(keys.target, mapping, "target", look),
            *reconciliation,
            _schema(mapping, keys, look, mappings),
            _integrity(mapping, keys, look, mappings),
            _verified(mapping, keys, look),
        ]
    return assets, all_keys


__all__ = [
    "TABLE_TAG",
    "IntegrityOutput",
    "ServerVersions",
    "TableKeys",
    "build_table_assets",
    "current_mapping",
    "safe_name",
    "table_keys",
    "table_metadata",
]
