"""Build ReportData from the results of every check of one run."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import os
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from pm_pipeline.core.config.spec import Classification, MigrationSpec, TableMapping, Thresholds
from pm_pipeline.core.consequences import ChildSum, link_consequences
from pm_pipeline.core.findings import (
    ROW_CATEGORIES,
    Category,
    Finding,
    JsonValue,
    Severity,
    TableReconciliation,
    overall_match_score,
)
from pm_pipeline.core.names import in_source_names
from pm_pipeline.core.report.impact import rank_issues
from pm_pipeline.core.report.model import (
    ReportData,
    RowCounts,
    RuleRecord,
    RunInfo,
    TableSection,
    Verdict,
)
from pm_pipeline.core.security.masking import mask_url
from pm_pipeline.core.security.redaction import REDACTION_KEY_ENV, RedactionMode, Redactor
from pm_pipeline.core.security.redaction_key import installation_key
from pm_pipeline.core.verdict import VerdictState, decide

TOP_ISSUES = 5
_VERDICTS = {
    VerdictState.PASS: Verdict.READY,
    VerdictState.PASS_WITH_WARNINGS: Verdict.READY_WITH_RISKS,
    VerdictState.FAIL: Verdict.NOT_READY,
    VerdictState.INCOMPLETE: Verdict.INCOMPLETE,
}
_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def classifications_from_spec(spec: MigrationSpec) -> dict[str, dict[str, Classification]]:
    """table -> column -> classification, as declared under each table's ``columns``, under both
    the source and the target names (findings about the target, expectations, use the latter)."""
    classes: dict[str, dict[str, Classification]] = {}
    for mapping in spec.tables:
        columns: dict[str, Classification] = {}
        for column, rule in mapping.columns.items():
            if rule.classification is not None:
                columns[column] = columns[mapping.renames.get(column, column)] = rule.classification
        for table in (mapping.source, mapping.target_name):
            classes.setdefault(table, {}).update(columns)
    return classes


def redactor_for(spec: MigrationSpec) -> Redactor:
    """The masking every output of a run applies: the spec's clearance and column classifications."""
    return Redactor(clearance=spec.reports.clearance, column_classes=classifications_from_spec(spec))


def pseudonymiser_for(spec: MigrationSpec) -> Redactor:
    """The masking of results stored between steps (Dagster's step outputs): values above the
    clearance become keyed hashes, equal for equal values, so steps, and runs (a bucket backfill, an
    integrity rerun), still join findings by key while the stored bytes hold none. The key is
    PM_REDACTION_KEY, or without it the installation's random key (:mod:`pm_pipeline.core.security.redaction_key`), mixed
    with both connection URLs: never only what a reader of the spec could rebuild."""
    secret = os.environ.get(REDACTION_KEY_ENV, "").encode() or installation_key()
    material = b"\0".join((secret, spec.source.url.encode(), spec.target.url.encode()))
    return Redactor(
        clearance=spec.reports.clearance,
        mode=RedactionMode.HMAC,
        column_classes=classifications_from_spec(spec),
        key=hashlib.sha256(material).digest(),
    )


def build_report_data(
    *,
    spec_name: str,
    spec_checksum: str,
    source_url: str,
    target_url: str,
    source_engine_version: str,
    target_engine_version: str,
    started_at: dt.datetime,
    finished_at: dt.datetime,
    launched_by: str,
    tables: Sequence[TableReconciliation] = (),
    extra_findings: Sequence[Finding] = (),
    checksum_manifest: Mapping[str, JsonValue] | None = None,
    clearance: Classification = Classification.INTERNAL,
    redaction: RedactionMode = RedactionMode.FIXED,
    redaction_key: bytes | None = None,
    column_classes: Mapping[str, Mapping[str, Classification]] | None = None,
    thresholds: Thresholds | None = None,
    sample_limit: int = 1000,
    rule_versions: Mapping[str, str] | None = None,
    run_id: str | None = None,
    tool_version: str | None = None,
    generated_at: dt.datetime | None = None,
    mappings: Sequence[TableMapping] = (),
    sums: Sequence[ChildSum] = (),
    linked: bool = False,
) -> ReportData:
    """Gather reconciliation results and schema/integrity findings into one redacted ReportData.

    ``column_classes`` (table -> column -> classification, see classifications_from_spec) lets
    key columns be masked too; a finding's own ``classification`` wins for its column. URLs are
    masked again here so a caller's slip cannot print a password. The verdict is the run's one
    verdict (:func:`pm_pipeline.core.verdict.decide`): *ready* (pass), *ready with accepted risks*
    (pass with warnings), *not ready* (fail) or *incomplete* (a check_error). Integrity findings
    that only repeat a reconciliation difference are linked to it first (``caused_by``, see
    :mod:`pm_pipeline.core.consequences`; ``mappings`` translate the names), unless ``linked`` says
    ``extra_findings`` already are (a second renaming would move a finding where one table's source
    name is another's target name).
    ``redaction_key`` overrides PM_REDACTION_KEY (tests); ``tool_version``/``generated_at``
    default to the installed package and now, and are fixed by golden tests.
    """
    thresholds = thresholds or Thresholds()
    if not linked:
        extra_findings = in_source_names(
            link_consequences(extra_findings, tables=tables, mappings=mappings, sums=sums),
            tables=tables,
            mappings=mappings,
        )
    table_names = {} if linked else {m.source: m.target_name for m in mappings}
    decision = decide(findings=extra_findings, tables=tables, thresholds=thresholds, table_names=table_names)
    classes: dict[str, dict[str, Classification]] = {t: dict(c) for t, c in (column_classes or {}).items()}
    for finding in [*extra_findings, *(f for t in tables for f in t.findings)]:
        if finding.column is not None and finding.classification is not None:
            classes.setdefault(finding.table, {}).setdefault(finding.column, finding.classification)
    redactor = Redactor(clearance=clearance, mode=redaction, column_classes=classes, key=redaction_key)

    by_table: dict[str, list[Finding]] = defaultdict(list)
    recon = {t.table: t for t in tables}
    for table in tables:
        by_table[table.table].extend(redactor.redact(f) for f in table.findings)
    for finding in extra_findings:
        by_table[finding.table].extend([redactor.redact(finding)])
    for findings in by_table.values():
        findings.sort(key=lambda f: _SEVERITY_ORDER[f.severity])

    names = [t.table for t in tables] + sorted(set(by_table) - set(recon))
    quotas = _sample_quotas({name: len(by_table[name]) for name in names}, sample_limit)
    states = {t.table: t.state for t in decision.tables}
    states.update({table_names[t.table]: t.state for t in decision.tables if t.table in table_names})
    sections = tuple(
        _section(name, recon.get(name), by_table[name], quotas[name], classes.get(name, {}), states.get(name))
        for name in names
    )
    severity_counts: Counter[str] = Counter()
    for section in sections:
        severity_counts.update(section.severity_counts)
    verdict = _VERDICTS[decision.state]

    run = RunInfo(
        run_id=run_id or uuid.uuid4().hex,
        spec_name=spec_name,
        spec_checksum=spec_checksum,
        source_url=mask_url(source_url),
        target_url=mask_url(target_url),
        source_engine_version=source_engine_version,
        target_engine_version=target_engine_version,
        started_at=started_at,
        finished_at=finished_at,
        launched_by=launched_by,
        tool_version=tool_version or _installed_version(),
        generated_at=generated_at or dt.datetime.now(dt.UTC),
    )
    return ReportData(
        run=run,
        clearance=clearance,
        redaction=redaction,
        thresholds=thresholds,
        sample_limit=sample_limit,
        verdict=verdict,
        overall_match_score=overall_match_score(tables) if tables else None,
        tables=sections,
        top_issues=rank_issues(sections, limit=TOP_ISSUES),
        rules=_rules(tables, sections, rule_versions or {}, run.tool_version),
        checksum_manifest=checksum_manifest,
        severity_counts=dict(severity_counts),
        decision=decision,
    )


def _installed_version() -> str:
    try:
        return importlib.metadata.version("pm-pipeline")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _sample_quotas(sizes: Mapping[str, int], limit: int) -> dict[str, int]:
    """Share ``limit`` inline findings fairly: small tables show all, large ones split the rest."""
    quotas: dict[str, int] = {}
    remaining = limit
    ordered = sorted(sizes, key=lambda name: sizes[name])
    for index, name in enumerate(ordered):
        share = remaining // (len(ordered) - index)
        quotas[name] = min(sizes[name], share)
        remaining -= quotas[name]
    return quotas


def _section(
    name: str,
    table: TableReconciliation | None,
    findings: list[Finding],
    quota: int,
    column_classes: Mapping[str, Classification],
    state: VerdictState | None = None,
) -> TableSection:
    categories = Counter(str(f.category) for f in findings)
    counts = None
    if table is not None:
        counts = RowCounts(
            target_table=table.target_table,
            key_columns=table.key_columns,
            keyless=table.keyless,
            source_rows=table.source_rows,
            target_rows=table.target_rows,
            matched_rows=table.matched_rows,
            missing_rows=table.missing_rows,
            extra_rows=table.extra_rows,
            duplicate_keys_source=table.duplicate_keys_source,
            duplicate_keys_target=table.duplicate_keys_target,
            changed_rows=table.changed_rows,
            rows_equal_under_rule=table.rows_equal_under_rule,
            compared_columns=table.compared_columns,
            strategy=table.strategy,
            seconds=table.seconds,
            match_score=table.match_score,
            strategy_note=table.strategy_note,
        )
        if table.findings_truncated:
            # The findings list stopped early; the counts are complete, so the charts use them.
            full = {
                Category.MISSING_ROW: table.missing_rows,
                Category.EXTRA_ROW: table.extra_rows,
                Category.DUPLICATE_KEY: table.duplicate_keys_source + table.duplicate_keys_target,
                Category.VALUE_MISMATCH: sum(c.mismatched for c in table.columns),
            }
            for category in ROW_CATEGORIES:
                categories[str(category)] = max(categories[str(category)], full[category])
    return TableSection(
        name=name,
        counts=counts,
        columns=table.columns if table is not None else (),
        findings=tuple(findings),
        sample=tuple(findings[:quota]),
        category_counts={k: v for k, v in sorted(categories.items()) if v},
        severity_counts=dict(Counter(str(f.severity) for f in findings)),
        column_classes=dict(column_classes),
        findings_truncated=table.findings_truncated if table is not None else False,
        diff_path=table.diff_path if table is not None else None,
        state=state,
        started_at=table.started_at if table is not None else None,
        finished_at=table.finished_at if table is not None else None,
    )


def _rules(
    tables: Sequence[TableReconciliation],
    sections: Sequence[TableSection],
    versions: Mapping[str, str],
    tool_version: str,
) -> tuple[RuleRecord, ...]:
    used: dict[str, set[str]] = defaultdict(set)
    for table in tables:
        for column in table.columns:
            if column.rule:
                used[column.rule].add(f"{table.table}.{column.column}")
    for section in sections:
        for finding in section.findings:
            if finding.rule:
                used[finding.rule].add(
                    f"{finding.table}.{finding.column}" if finding.column else finding.table
                )
    # A rule's implementation ships with pm-pipeline, so its version is the tool's unless declared.
    return tuple(
        RuleRecord(name=name, version=versions.get(name, tool_version), used_by=tuple(sorted(where)))
        for name, where in sorted(used.items())
    )
