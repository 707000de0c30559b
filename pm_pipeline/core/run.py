"""A whole check over a migration: open both sides, pick the tables, check each, collect findings.

Each table is checked through its :class:`~pm_pipeline.core.check.TablePair`, as the Dagster
assets check it (one table per asset).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from pm_pipeline.core import discovery
from pm_pipeline.core.check import TablePair, check_integrity, compare_schema, early_profile, reconcile
from pm_pipeline.core.check_errors import Unit, guarded
from pm_pipeline.core.config.spec import Endpoint, MigrationSpec, TableMapping
from pm_pipeline.core.connectors import Connector, open_endpoint
from pm_pipeline.core.consequences import ChildSum, child_sums, link_consequences
from pm_pipeline.core.discovery import TableSelection
from pm_pipeline.core.findings import Category, Finding, TableReconciliation
from pm_pipeline.core.integrity import ManifestEntry, ReadProfile, tapping
from pm_pipeline.core.integrity.checksum import checksum_tap, manifest_document
from pm_pipeline.core.names import in_source_names
from pm_pipeline.core.perf import PerfResult, run_workload
from pm_pipeline.core.perf.refusals import values_may_be_hidden
from pm_pipeline.core.reconcile import ReconcileOptions
from pm_pipeline.core.reconcile.stash import Progress
from pm_pipeline.core.report import ReportData, build_report_data, classifications_from_spec, redactor_for
from pm_pipeline.core.security.masking import mask_url
from pm_pipeline.core.verdict import RunVerdict, decide


def spec_for_urls(*, source_url: str, target_url: str, tables: Sequence[str] | None = None) -> MigrationSpec:
    """A spec for a first check with no YAML: the named tables, or every table on both sides."""
    mappings = [TableMapping(source=name) for name in tables or ()]
    return MigrationSpec(
        source=Endpoint(url=source_url),
        target=Endpoint(url=target_url),
        tables=mappings,
        discover=not mappings,
    )


def select_tables(spec: MigrationSpec, *, source: Connector, target: Connector) -> TableSelection:
    """The spec's tables (each must exist on both sides) plus, with ``discover``, every table found on
    both sides by name, case or normalised name; see :mod:`pm_pipeline.core.discovery`."""
    return discovery.select_tables(spec, source=source, target=target)


class CheckProgress(Protocol):
    """What a check reports while it reconciles, one table after the other."""

    def start_table(self, table: str, expected_rows: int | None) -> Progress:
        """A table starts; ``expected_rows`` (both sides together) is an estimate, or None. Returns
        the callback told of every batch read: (side, rows)."""

    def finish_table(self, table: str) -> None:
        """The table is reconciled, however many rows the estimate announced."""


def expected_rows_per_side(
    *, source: Connector, target: Connector, mapping: TableMapping, buckets: int = 1
) -> dict[str, int | None]:
    """Each side's rows expected to stream (the connectors' cheap estimates, None where there is
    none), spread over ``buckets`` key-hash buckets and rounded up: a bucket never announces too few."""
    estimates = {
        "source": source.estimate_rows(mapping.source),
        "target": target.estimate_rows(mapping.target_name),
    }
    return {side: None if rows is None else -(-rows // buckets) for side, rows in estimates.items()}


def expected_rows(*, source: Connector, target: Connector, mapping: TableMapping) -> int | None:
    """The rows both sides together are expected to stream, or None when a side has no estimate."""
    per_side = expected_rows_per_side(source=source, target=target, mapping=mapping)
    return None if None in per_side.values() else sum(rows or 0 for rows in per_side.values())


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one whole check."""

    spec: MigrationSpec
    started_at: dt.datetime
    finished_at: dt.datetime
    source_url: str  # masked
    target_url: str  # masked
    source_version: str
    target_version: str
    tables: tuple[TableReconciliation, ...]
    findings: tuple[Finding, ...] = field(default_factory=tuple)  # schema, integrity, table-level findings
    manifest: tuple[ManifestEntry, ...] = ()
    mappings: tuple[TableMapping, ...] = ()  # the tables compared (discovery included); spec.tables if empty
    linked: bool = False  # findings already linked (caused_by) and in source names, as run_check leaves them
    performance: PerfResult | None = None  # the workload's figures, when the spec has one

    @classmethod
    def ended(
        cls,
        spec: MigrationSpec,
        *,
        started: dt.datetime,
        source: Connector,
        target: Connector,
        tables: Sequence[TableReconciliation] = (),
        **parts: Any,
    ) -> CheckResult:
        """The result of a check that started at ``started`` and ends now on these two connections:
        both URLs masked, both server versions, and ``parts`` (tables, findings, ...)."""
        return cls(
            spec=spec,
            started_at=started,
            finished_at=dt.datetime.now(dt.UTC),
            source_url=mask_url(spec.source.url),
            target_url=mask_url(spec.target.url),
            source_version=source.server_version(),
            target_version=target.server_version(),
            tables=tuple(tables),
            **parts,
        )

    @property
    def all_findings(self) -> tuple[Finding, ...]:
        return self.findings + tuple(f for table in self.tables for f in table.findings)

    @property
    def compared_mappings(self) -> tuple[TableMapping, ...]:
        return self.mappings or tuple(self.spec.tables)

    @property
    def child_sums(self) -> tuple[ChildSum, ...]:
        """The spec's aggregate rules, read only when one of them was violated."""
        if not any(f.category is Category.RULE_VIOLATION for f in self.findings):
            return ()
        return child_sums(self.spec.integrity)

    @property
    def verdict(self) -> RunVerdict:
        """The run's one verdict (see :mod:`pm_pipeline.core.verdict`)."""
        return decide(
            findings=self.findings,
            tables=self.tables,
            thresholds=self.spec.thresholds,
            table_names={m.source: m.target_name for m in self.compared_mappings},
        )

    @property
    def passed(self) -> bool:
        return self.verdict.passed


def _reads_whole(options: ReconcileOptions, mapping: TableMapping) -> bool:
    """Whether the reconciliation may read the mapping's whole tables into this process (the arrow
    strategy, not forced away, on no partition): where it does not, a tap sees no batch."""
    strategy = options.strategy if options.strategy != "auto" else mapping.strategy
    return options.partition is None and strategy in ("auto", "arrow")


def run_check(
    spec: MigrationSpec,
    *,
    diff_dir: Path | None = None,
    progress: CheckProgress | None = None,
    options: ReconcileOptions | None = None,
    integrity: bool = True,
    data_docs_dir: Path | None = None,
) -> CheckResult:
    """Reconcile every selected table, telling ``progress`` how far each one is."""
    started = dt.datetime.now(dt.UTC)
    given = options or ReconcileOptions()
    # With the checksums on, the reconciliation's own reads of whole tables carry them.
    taps = integrity and spec.integrity.checksums
    generated = integrity and spec.integrity.gx.enabled and spec.integrity.gx.generate
    base = dataclasses.replace(
        given,
        thresholds=spec.thresholds,
        diff_dir=diff_dir or given.diff_dir,
        redactor=redactor_for(spec),
        digest_tap=checksum_tap if taps else given.digest_tap,
        # ... and the repeated values the generated expectations' uniqueness would count again.
        count_repeats=given.count_repeats or generated,
        value_set_max=spec.integrity.gx.value_set_max if generated else given.value_set_max,
    )
    with open_endpoint(spec.source) as source, open_endpoint(spec.target) as target:
        selection = select_tables(spec, source=source, target=target)
        findings = list(selection.findings)
        tables: list[TableReconciliation] = []
        manifest: list[ManifestEntry] = []
        for mapping in selection.mappings:
            # Read once, while the tables were selected (a table whose catalog failed is not here).
            pair = TablePair.build(
                source=source,
                target=target,
                mapping=mapping,
                spec=spec,
                names=selection.names,
                schemas=selection.schemas[mapping.source],
            )
            schema = compare_schema(pair)
            findings.extend(schema.findings)
            callback = None
            if progress is not None:
                expected = expected_rows(source=source, target=target, mapping=mapping)
                callback = progress.start_table(mapping.source, expected)
            with contextlib.ExitStack() as beside:
                # The expectations' source profile: measured on the reconciliation's read of the
                # whole source table, or scanning the source while the reconciliation reads it.
                whole = _reads_whole(given, mapping)
                early = early_profile(pair, settings=spec.integrity, whole_read=whole) if integrity else None
                options = base
                if early is not None:
                    beside.callback(early.close)
                    if isinstance(early, ReadProfile):
                        options = dataclasses.replace(base, digest_tap=tapping(early, base.digest_tap))
                reconciled, error = guarded(
                    Unit("reconciliation", "reconciliation", mapping.source),
                    partial(reconcile, pair, options=options, progress=callback),
                    connectors=(source, target),
                )
                if isinstance(early, ReadProfile) and reconciled is not None:
                    early.finish()  # the read ended: what its tap measured covers the whole table
                if reconciled is not None:
                    tables.append(reconciled)
                elif error is not None:
                    findings.append(error)
                if progress is not None:
                    progress.finish_table(mapping.source)
                # After the reconciliation, whose pass may already hold each table's checksum.
                if integrity:
                    integrity_findings, entry = check_integrity(
                        pair,
                        settings=spec.integrity,
                        data_docs_dir=data_docs_dir,
                        digests=None if reconciled is None else reconciled.digests,
                        facts=None if reconciled is None else reconciled.column_facts,
                        early=early,
                    )
                    findings.extend(integrity_findings)
                    if entry is not None:
                        manifest.append(entry)
        performance = None
        if spec.performance is not None:
            # A phase of its own, after the tables: its timings are not disturbed by their reads.
            performance = run_workload(
                spec.performance,
                source=source,
                target=target,
                target_names={m.source: m.target_name for m in selection.mappings},
                withhold=values_may_be_hidden(spec),
            )
            findings.extend(performance.findings)
        result = CheckResult.ended(
            spec,
            started=started,
            source=source,
            target=target,
            tables=tables,
            findings=tuple(findings),
            manifest=tuple(manifest),
            mappings=tuple(selection.mappings),
            performance=performance,
        )
        return dataclasses.replace(
            result,
            linked=True,
            findings=in_source_names(
                link_consequences(
                    result.findings, tables=tables, mappings=selection.mappings, sums=result.child_sums
                ),
                tables=tables,
                mappings=selection.mappings,
            ),
        )


def check_report(
    result: CheckResult,
    *,
    spec_checksum: str,
    launched_by: str,
    extra_findings: Sequence[Finding] = (),
    checksum_manifest: dict[str, Any] | None = None,
    run_id: str | None = None,
) -> ReportData:
    """The typed report of a check; every report format is a view of it."""
    spec = result.spec
    report = build_report_data(
        spec_name=spec.name,
        spec_checksum=spec_checksum,
        source_url=result.source_url,
        target_url=result.target_url,
        source_engine_version=result.source_version,
        target_engine_version=result.target_version,
        started_at=result.started_at,
        finished_at=result.finished_at,
        launched_by=launched_by,
        tables=result.tables,
        extra_findings=[*result.findings, *extra_findings],
        checksum_manifest=checksum_manifest
        if checksum_manifest is not None or not result.manifest
        else manifest_document(entries=result.manifest),
        clearance=spec.reports.clearance,
        column_classes=classifications_from_spec(spec),
        thresholds=spec.thresholds,
        sample_limit=spec.reports.sample_limit,
        run_id=run_id,
        mappings=result.compared_mappings,
        sums=result.child_sums,
        linked=result.linked,
    )
    if result.performance is not None:
        report = dataclasses.replace(report, performance=result.performance.to_json())
    return report if spec.compliance is None else dataclasses.replace(report, compliance=spec.compliance)
