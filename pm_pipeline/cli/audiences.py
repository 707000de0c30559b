"""`pm-pipeline check` with ``reports.audiences``: one report set per audience, each masked at its level."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from pm_pipeline.cli.report_files import report_set_metadata
from pm_pipeline.core.config import Classification
from pm_pipeline.core.errors import SystemFailure
from pm_pipeline.core.findings import TableReconciliation
from pm_pipeline.core.integrity import write_manifest
from pm_pipeline.core.report import write_reports
from pm_pipeline.core.report.audiences import (
    at_clearance,
    audience_record,
    copy_masked_diffs,
    hidden_columns,
)
from pm_pipeline.core.report.report_set import StagedSet, publish_report_set
from pm_pipeline.core.run import CheckResult, check_report

_COPIED = ("data-docs",)  # written only for suites that touch no classified column


def write_audience_sets(
    result: CheckResult,
    sets: Mapping[Classification, StagedSet],
    *,
    spec_checksum: str,
    launched_by: str,
    run_id: str,
) -> dict[Classification, Path]:
    """Write and publish every audience's set; ``result`` was collected into the highest one's
    staging folder, whose diff files the lower audiences get masked. The published folders."""
    spec = result.spec
    top = sets[max(sets, key=lambda audience: audience.rank)]
    metadata: dict[Classification, dict[str, object]] = {}
    for audience, staged in sets.items():
        record = audience_record(spec, audience)
        shown = dataclasses.replace(
            result, spec=at_clearance(spec, audience), tables=_relocated(result, top, staged)
        )
        report = check_report(shown, spec_checksum=spec_checksum, launched_by=launched_by, run_id=run_id)
        report = dataclasses.replace(report, audience=record)
        if staged is not top:
            copy_masked_diffs(
                top.directory / "diffs", staged.directory / "diffs", hidden=hidden_columns(spec, audience)
            )
            for name in _COPIED:
                if (top.directory / name).is_dir():
                    _copy_tree(top.directory / name, staged.directory / name)
        write_reports(report, directory=staged.directory)
        if result.manifest:
            write_manifest(str(staged.directory / "checksum-manifest.json"), entries=result.manifest)
        metadata[audience] = {**report_set_metadata(report), **record.to_json()}
    return {
        audience: publish_report_set(staged, metadata=metadata[audience])
        for audience, staged in sorted(sets.items(), key=lambda item: item[0].rank)
    }


def _relocated(result: CheckResult, top: StagedSet, staged: StagedSet) -> tuple[TableReconciliation, ...]:
    """The tables with their diff paths in ``staged``'s published place (diffs are written to ``top``)."""
    written, final = str(top.directory), str(staged.destination)
    return tuple(
        dataclasses.replace(t, diff_path=final + t.diff_path[len(written) :])
        if t.diff_path is not None and t.diff_path.startswith(written)
        else t
        for t in result.tables
    )


def _copy_tree(source: Path, destination: Path) -> None:
    try:
        shutil.copytree(source, destination)
    except OSError as exc:
        raise SystemFailure(f"cannot copy {source} into {destination}: {exc}") from exc


def print_audience_sets(published: Mapping[Classification, Path], console: Console, *, last: Path) -> None:
    for audience, path in published.items():
        if path != last:
            console.print(f"reports ({audience}): {escape(str(path))}", highlight=False, soft_wrap=True)
