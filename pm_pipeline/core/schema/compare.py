"""Compare a source table's schema with its migrated target: one public function, typed results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors.schema import Column, TableSchema
from pm_pipeline.core.dialects import ENGINES, canonical_engine
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.core.names import RunNames
from pm_pipeline.core.schema import constraints
from pm_pipeline.core.schema.defaults import is_sequence_default, normalise_default
from pm_pipeline.core.schema.profile import ColumnProfile
from pm_pipeline.core.schema.renames import DEFAULT_THRESHOLD, RenameSuggestion, suggest_renames
from pm_pipeline.core.schema.sequences import sequences
from pm_pipeline.core.schema.type_map import effective_family
from pm_pipeline.core.schema.widths import judge_types, needs_profile

CHECK = "schema"


@dataclass(frozen=True)
class SchemaComparison:
    """``column_map`` is the mapping actually used (source column -> target column): names equal,
    equal up to case, or renamed by the spec. Suggestions are not in it until the spec accepts them."""

    table: str
    target_table: str
    column_map: Mapping[str, str]
    findings: tuple[Finding, ...]
    suggestions: tuple[RenameSuggestion, ...] = ()
    ignored: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


def _engine(engine: str, side: str) -> str:
    name = canonical_engine(engine)
    if name is None:
        raise BadInputError(
            f"schema comparison: unknown {side} engine {engine!r}; expected one of {', '.join(ENGINES)}"
        )
    return name


def _match_columns(
    table: str, source: TableSchema, target: TableSchema, mapping: TableMapping | None
) -> tuple[dict[str, str], list[Finding], list[str]]:
    renames = dict(mapping.renames) if mapping else {}
    ignored = set(mapping.ignore) if mapping else set()
    unknown = sorted((set(renames) | ignored) - set(source.column_names))
    if unknown:
        raise BadInputError(
            f"table {table}: the spec's renames/ignore name source column(s) {', '.join(unknown)}, "
            "which the source table lacks"
        )
    by_lower: dict[str, list[str]] = {}
    for name in target.column_names:
        by_lower.setdefault(name.lower(), []).append(name)
    column_map: dict[str, str] = {}
    findings: list[Finding] = []
    claimed: set[str] = set()
    for col in source.columns:
        if col.name in ignored:
            continue
        wanted = renames.get(col.name, col.name)
        found = wanted if wanted in target.column_names else None
        if found is None and len(by_lower.get(wanted.lower(), [])) == 1:
            found = by_lower[wanted.lower()][0]
        if found is not None and found not in claimed:
            column_map[col.name] = found
            claimed.add(found)
        elif col.name in renames:
            findings.append(
                Finding(
                    table=table, category=Category.COLUMN_MISSING, severity=Severity.ERROR, column=col.name,
                    source_value=col.data_type, rule="spec_rename", check=CHECK,
                    message=f"the spec renames {col.name} to {wanted}, which the target lacks",
                )
            )  # fmt: skip
    return column_map, findings, sorted(ignored)


def _unpaired(
    source: TableSchema, target: TableSchema, column_map: dict[str, str], ignored: list[str]
) -> tuple[list[Column], list[Column]]:
    """Source columns without a target counterpart (not ignored), and unclaimed target columns."""
    claimed = set(column_map.values())
    return (
        [c for c in source.columns if c.name not in column_map and c.name not in ignored],
        [c for c in target.columns if c.name not in claimed],
    )


def profiled_columns(
    table: str,
    source: TableSchema,
    target: TableSchema,
    *,
    source_engine: str,
    target_engine: str,
    mapping: TableMapping | None = None,
) -> tuple[set[str], set[str]]:
    """The (source, target) columns whose value profiles the comparison reads: columns without a
    counterpart (rename suggestions) and pairs whose declarations alone cannot settle the fit.
    Profiling scans the whole table, so the rest are not profiled."""
    src_engine, tgt_engine = _engine(source_engine, "source"), _engine(target_engine, "target")
    column_map, _, ignored = _match_columns(table, source, target, mapping)
    unpaired = _unpaired(source, target, column_map, ignored)
    missing, extra = {c.name for c in unpaired[0]}, {c.name for c in unpaired[1]}
    # A rename pairs a missing source column with an extra target column: both sides or neither.
    wanted_source, wanted_target = (missing, extra) if missing and extra else (set(), set())
    for source_name, target_name in column_map.items():
        if needs_profile(
            source=source.column(source_name), target=target.column(target_name),
            source_engine=src_engine, target_engine=tgt_engine,
        ):  # fmt: skip
            wanted_source.add(source_name)
    return wanted_source, wanted_target


def _column_findings(
    table: str, source: Column, target: Column, *, source_engine: str, target_engine: str,
    profile: ColumnProfile | None,
) -> list[Finding]:  # fmt: skip
    findings: list[Finding] = []

    def add(
        category: Category, severity: Severity, src: str | None, tgt: str | None, rule: str, msg: str
    ) -> None:
        findings.append(
            Finding(
                table=table, category=category, severity=severity, column=source.name, source_value=src,
                target_value=tgt, rule=rule, message=msg, check=CHECK,
            )
        )  # fmt: skip

    judgement = judge_types(
        source=source, target=target, source_engine=source_engine, target_engine=target_engine,
        source_profile=profile,
    )  # fmt: skip
    if judgement.category is not None and judgement.severity is not None:
        add(judgement.category, judgement.severity, source.data_type, target.data_type, judgement.rule,
            f"{source.name} -> {target.name}: {judgement.detail}")  # fmt: skip
    if not source.nullable and target.nullable:
        add(Category.NULLABILITY_CHANGED, Severity.ERROR, "NOT NULL", "NULL", "not_null_dropped",
            f"{target.name} lost NOT NULL: the target now accepts NULLs the source rejects")  # fmt: skip
    elif source.nullable and not target.nullable:
        add(Category.NULLABILITY_CHANGED, Severity.INFO, "NULL", "NOT NULL", "not_null_added",
            f"{target.name} gained NOT NULL: stricter than the source")  # fmt: skip
    if source.identity or target.identity or is_sequence_default(source.default):
        return findings  # counters are compared as sequences
    s_family = effective_family(source.data_type, source.family, source_engine)[0]
    t_family = effective_family(target.data_type, target.family, target_engine)[0]
    wanted = normalise_default(source.default, s_family)
    have = normalise_default(target.default, t_family)
    if wanted is not None and have is None:
        add(Category.DEFAULT_MISSING, Severity.WARNING, source.default, None, "default_missing",
            f"{target.name} has no DEFAULT {source.default}: inserts that omit it now store NULL or fail")  # fmt: skip
    elif wanted is not None and wanted != have:
        add(Category.DEFAULT_MISSING, Severity.WARNING, source.default, target.default, "default_changed",
            f"{target.name} defaults to {target.default}, the source to {source.default}")  # fmt: skip
    return findings


def compare_schemas(
    *,
    table: str,
    source: TableSchema,
    target: TableSchema,
    source_engine: str,
    target_engine: str,
    mapping: TableMapping | None = None,
    source_profiles: Mapping[str, ColumnProfile] | None = None,
    target_profiles: Mapping[str, ColumnProfile] | None = None,
    target_key_max: Mapping[str, int] | None = None,
    table_renames: Mapping[str, str] | None = None,
    names: RunNames | None = None,
    rename_threshold: float = DEFAULT_THRESHOLD,
) -> SchemaComparison:
    """Every schema finding for one mapped table.

    ``source_profiles`` / ``target_profiles`` are keyed by each side's column names (see
    pushdown.profile_columns); ``target_key_max`` maps target identity columns to their max value
    in the target (pushdown.key_max); ``table_renames`` maps source table names to target ones so
    foreign keys to renamed tables still match, and ``names`` (the run's names) also the renamed
    columns of their parents. Raises BadInputError for an unknown engine or a
    spec naming a column the source lacks.
    """
    src_engine, tgt_engine = _engine(source_engine, "source"), _engine(target_engine, "target")
    column_map, findings, ignored = _match_columns(table, source, target, mapping)
    missing, extra = _unpaired(source, target, column_map, ignored)
    suggestions = suggest_renames(
        missing=missing, extra=extra, source_engine=src_engine, target_engine=tgt_engine,
        source_profiles=source_profiles, target_profiles=target_profiles, threshold=rename_threshold,
    )  # fmt: skip
    by_source = {s.source_column: s for s in suggestions}
    explained = {s.target_column for s in suggestions}
    reported = {f.column for f in findings}
    for col in missing:
        if col.name in reported:
            continue
        hint = by_source.get(col.name)
        advice = (
            f"; it looks renamed to {hint.target_column} (confidence {hint.confidence}): accept with "
            f"renames: {{{col.name}: {hint.target_column}}}"
            if hint
            else ""
        )
        findings.append(
            Finding(
                table=table, category=Category.COLUMN_MISSING, severity=Severity.ERROR, column=col.name,
                source_value=col.data_type, rule="column", check=CHECK,
                message=f"{col.name} is not in the target{advice}; its values are not compared",
            )
        )  # fmt: skip
    for hint in suggestions:
        findings.append(
            Finding(
                table=table, category=Category.COLUMN_RENAMED, severity=Severity.WARNING,
                column=hint.source_column, source_value=hint.source_column, target_value=hint.target_column,
                rule="rename_suggestion", check=CHECK,
                message=f"suggested mapping {hint.source_column} -> {hint.target_column}: confidence "
                f"{hint.confidence}, name similarity {hint.name_similarity}, profile similarity "
                f"{'n/a' if hint.profile_similarity is None else hint.profile_similarity}",
            )
        )  # fmt: skip
    for col in extra:
        if col.name in explained:
            continue
        # An extra NOT NULL column without default breaks inserts written for the source's columns.
        blocking = not col.nullable and col.default is None and not col.identity
        findings.append(
            Finding(
                table=table, category=Category.COLUMN_EXTRA,
                severity=Severity.WARNING if blocking else Severity.INFO, column=None,
                target_value=f"{col.name} {col.data_type}", rule="column", check=CHECK,
                message=f"{col.name} exists only in the target"
                + (" and is NOT NULL without a default: inserts that omit it fail" if blocking else ""),
            )
        )  # fmt: skip
    for source_name, target_name in column_map.items():
        findings += _column_findings(
            table, source.column(source_name), target.column(target_name), source_engine=src_engine,
            target_engine=tgt_engine, profile=(source_profiles or {}).get(source_name),
        )  # fmt: skip
    ctx = constraints.Context(table, source, target, column_map, table_renames or {}, names)
    findings += constraints.primary_key(ctx)
    findings += constraints.unique_constraints(ctx)
    findings += constraints.check_constraints(ctx)
    findings += constraints.indexes(ctx)
    findings += constraints.foreign_keys(ctx)
    findings += sequences(ctx, target_key_max=target_key_max)
    return SchemaComparison(
        table=table, target_table=target.name, column_map=column_map, findings=tuple(findings),
        suggestions=suggestions, ignored=tuple(ignored),
    )  # fmt: skip
