"""Machine-readable views of ReportData: findings JSON, evidence JSON, CSV per category, Parquet."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pm_pipeline.core.digest.files import file_sha256
from pm_pipeline.core.findings import FINDINGS_SCHEMA_VERSION, Finding, JsonValue
from pm_pipeline.core.report.model import ReportData, RunInfo, TableSection

EVIDENCE_SCHEMA_VERSION = "1.1"  # 1.1: tables_checked, checks timed by their results
EVIDENCE_STATEMENT = (
    "This evidence pack records which checks pm-pipeline ran, when, by which run, under which rules "
    "and rule versions, and what they found. It states what was verified and nothing more: it is not "
    "a certification, an attestation or an audit opinion."
)
CSV_COLUMNS = (
    "table",
    "column",
    "key",
    "category",
    "severity",
    "source_value",
    "target_value",
    "source_canonical",
    "target_canonical",
    "rule",
    "message",
    "classification",
    "check",
)


def run_json(run: RunInfo) -> dict[str, Any]:
    data = asdict(run)
    for name in ("started_at", "finished_at", "generated_at"):
        data[name] = data[name].isoformat()
    data["duration_seconds"] = run.duration_seconds
    return data


def table_summary_json(section: TableSection) -> dict[str, Any]:
    return {
        "table": section.name,
        "passed": section.passed,
        "checks": list(section.checks),
        "counts": None if section.counts is None else asdict(section.counts),
        "category_counts": dict(section.category_counts),
        "severity_counts": dict(sorted(section.severity_counts.items())),
        "findings": len(section.findings),
        "findings_truncated": section.findings_truncated,
        "diff_path": section.diff_path,
        "column_classes": {c: str(k) for c, k in sorted(section.column_classes.items())},
    }


def verdict_json(report: ReportData) -> dict[str, Any]:
    """The run's one verdict: its readiness (the reports' wording), its state and why, per table."""
    decision = report.decision.to_json() if report.decision is not None else {}
    return {"readiness": str(report.verdict), "label": report.verdict.label, **decision}


def _summary_json(report: ReportData) -> dict[str, Any]:
    return {
        "run": run_json(report.run),
        "clearance": str(report.clearance),
        "redaction": str(report.redaction),
        "verdict": verdict_json(report),
        "overall_match_score": report.overall_match_score,
        "thresholds": report.thresholds.model_dump(mode="json"),
        "severity_counts": dict(sorted(report.severity_counts.items())),
        "tables": [table_summary_json(t) for t in report.tables],
        # Only when the run had a workload: other documents keep their exact shape.
        **({"performance": dict(report.performance)} if report.performance is not None else {}),
    }


def write_findings_json(report: ReportData, path: Path) -> Path:
    """One document: the run summary, then every finding, one per line so the file diffs well."""
    head = {"schema_version": FINDINGS_SCHEMA_VERSION, **_summary_json(report)}
    text = json.dumps(head, indent=2, ensure_ascii=False)
    with path.open("w", encoding="utf-8") as out:
        out.write(text[: text.rfind("}")].rstrip() + ',\n  "findings": [')
        for index, finding in enumerate(report.all_findings()):
            out.write(
                ("\n    " if index == 0 else ",\n    ") + json.dumps(finding.to_json(), ensure_ascii=False)
            )
        out.write("\n  ]\n}\n")
    return path


def evidence_json(report: ReportData, artifacts: Mapping[str, Path]) -> dict[str, Any]:
    """What was checked, when, by which run, under which rules, with what result (no values)."""
    checks: dict[str, list[str]] = {}
    for section in report.tables:
        for check in section.checks:
            checks.setdefault(check, []).append(section.name)
    evidence: dict[str, Any] = {
        "evidence_schema_version": EVIDENCE_SCHEMA_VERSION,
        "statement": EVIDENCE_STATEMENT,
        "run": run_json(report.run),
        "clearance": str(report.clearance),
        "checks": [
            {"check": check, "tables": tables, **_check_window(report, check)}
            for check, tables in sorted(checks.items())
        ],
        "tables_checked": [
            {
                "table": t.name,
                "check": "reconciliation",
                "started_at": t.started_at.isoformat(),
                "finished_at": t.finished_at.isoformat(),
                "seconds": None if t.counts is None else t.counts.seconds,
            }
            for t in report.tables
            if t.started_at is not None and t.finished_at is not None
        ],
        "rules": [{"name": r.name, "version": r.version, "used_by": list(r.used_by)} for r in report.rules],
        "thresholds": report.thresholds.model_dump(mode="json"),
        "results": [
            {
                "table": t.name,
                "checks": list(t.checks),
                "passed": t.passed,
                "match_score": None if t.counts is None else t.counts.match_score,
                "source_rows": None if t.counts is None else t.counts.source_rows,
                "target_rows": None if t.counts is None else t.counts.target_rows,
                "severity_counts": dict(sorted(t.severity_counts.items())),
            }
            for t in report.tables
        ],
        "verdict": str(report.verdict),
        "overall_match_score": report.overall_match_score,
        "checksum_manifest": report.checksum_manifest,
        "artifacts": {name: "sha256:" + file_sha256(path) for name, path in sorted(artifacts.items())},
    }
    if report.audience is not None:
        evidence["audience"] = report.audience.to_json()
    compliance = compliance_json(report)
    if compliance is not None:
        evidence["compliance"] = compliance
    return evidence


def _check_window(report: ReportData, check: str) -> dict[str, str]:
    """When a check ran, from its own results: the span of its tables' times where the results
    carry them (reconciliation), else the run's window, which holds every check."""
    sections = [t for t in report.tables if check in t.checks]
    starts = [t.started_at for t in sections if t.started_at is not None]
    ends = [t.finished_at for t in sections if t.finished_at is not None]
    if check != "reconciliation" or not starts or not ends:
        return {
            "started_at": report.run.started_at.isoformat(),
            "finished_at": report.run.finished_at.isoformat(),
        }
    return {"started_at": min(starts).isoformat(), "finished_at": max(ends).isoformat()}


def compliance_json(report: ReportData) -> dict[str, Any] | None:
    """The controls the run's checks support (the spec's ``compliance`` section), or None without one."""
    from pm_pipeline.core.report.compliance import COMPLIANCE_STATEMENT, map_controls

    if report.compliance is None:
        return None
    tables: dict[str, list[str]] = {}
    passed: dict[str, bool] = {}
    for section in report.tables:
        for check in section.checks:
            tables.setdefault(check, []).append(section.name)
            errors = any(f.check == check and str(f.severity) == "error" for f in section.findings)
            passed[check] = passed.get(check, True) and not errors
    controls = map_controls(report.compliance, tables={c: tuple(t) for c, t in tables.items()}, passed=passed)
    return {
        "statement": COMPLIANCE_STATEMENT,
        "controls": [
            {"framework": c.framework, "control": c.control, "title": c.title, "checks": list(c.checks),
             "tables": list(c.tables), "passed": c.passed}
            for c in controls
        ],
    }  # fmt: skip


def write_evidence_json(evidence: Mapping[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(evidence, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def cell(value: JsonValue) -> str:
    """Text of a value for CSV/Parquet/XLSX: strings as they are, NULL empty, the rest as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def finding_row(finding: Finding) -> list[str]:
    data = finding.to_json()
    return [cell(data[name]) for name in CSV_COLUMNS]


def write_category_csvs(report: ReportData, directory: Path) -> Path:
    """One CSV per finding category (every finding, not only the inline sample)."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.csv"):
        stale.unlink()
    by_category: dict[str, list[Finding]] = {}
    for finding in report.all_findings():
        by_category.setdefault(str(finding.category), []).append(finding)
    for category, findings in sorted(by_category.items()):
        with (directory / f"{category}.csv").open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(finding_row(f) for f in findings)
    return directory


def write_findings_parquet(report: ReportData, path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [finding_row(f) for f in report.all_findings()]
    columns = {name: [row[i] for row in rows] for i, name in enumerate(CSV_COLUMNS)}
    table = pa.table({name: pa.array(values, type=pa.string()) for name, values in columns.items()})
    pq.write_table(table, path, compression="zstd")
    return path
