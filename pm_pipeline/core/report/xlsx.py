"""XLSX workbook: a summary sheet, then one formatted sheet per table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pm_pipeline.core.report.data_formats import CSV_COLUMNS, finding_row
from pm_pipeline.core.report.model import ReportData, TableSection

_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def _sheet_names(report: ReportData) -> list[str]:
    """Excel sheet names: at most 31 characters, no []:*?/\\, unique ignoring case."""
    used = {"summary"}
    names = []
    for section in report.tables:
        base = _BAD_SHEET_CHARS.sub("_", section.name)[:31] or "table"
        name, n = base, 1
        while name.lower() in used:
            n += 1
            suffix = f"~{n}"
            name = base[: 31 - len(suffix)] + suffix
        used.add(name.lower())
        names.append(name)
    return names


def write_xlsx(report: ReportData, path: Path) -> Path:
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"strings_to_urls": False, "strings_to_formulas": False})
    # A fixed creation date keeps the file reproducible for one run.
    workbook.set_properties(
        {
            "title": f"Migration report: {report.run.spec_name}",
            "created": report.run.generated_at.replace(tzinfo=None),
        }
    )
    fmt: dict[str, Any] = {
        "title": workbook.add_format({"bold": True, "font_size": 14}),
        "head": workbook.add_format({"bold": True, "bg_color": "#F2F4F4", "border": 1}),
        "label": workbook.add_format({"bold": True}),
        "pct": workbook.add_format({"num_format": "0.00%"}),
        "int": workbook.add_format({"num_format": "#,##0"}),
        "error": workbook.add_format({"font_color": "#C0392B", "bold": True}),
        "warning": workbook.add_format({"font_color": "#B9770E", "bold": True}),
        "info": workbook.add_format({"font_color": "#2E86C1"}),
    }
    names = _sheet_names(report)
    _summary_sheet(workbook, report, names, fmt)
    for section, name in zip(report.tables, names, strict=True):
        _table_sheet(workbook.add_worksheet(name), section, report, fmt)
    workbook.close()
    return path


def _summary_sheet(workbook: Any, report: ReportData, names: list[str], fmt: dict[str, Any]) -> None:
    sheet = workbook.add_worksheet("Summary")
    run = report.run
    sheet.write(0, 0, f"Migration report: {run.spec_name}", fmt["title"])
    facts: list[tuple[str, Any, str | None]] = [
        ("Verdict", report.verdict.label, None),
        ("Overall match score", report.overall_match_score, "pct"),
        ("Threshold (min match score)", report.thresholds.min_match_score, "pct"),
        ("Errors", report.severity_counts.get("error", 0), "int"),
        ("Warnings", report.severity_counts.get("warning", 0), "int"),
        ("Infos", report.severity_counts.get("info", 0), "int"),
        ("Clearance", f"{report.clearance} (values above are masked, {report.redaction})", None),
        ("Run", run.run_id, None),
        ("Spec checksum", run.spec_checksum, None),
        ("Source", f"{run.source_url} · {run.source_engine_version}", None),
        ("Target", f"{run.target_url} · {run.target_engine_version}", None),
        ("Started", run.started_at.isoformat(), None),
        ("Finished", run.finished_at.isoformat(), None),
        ("Launched by", run.launched_by, None),
        ("pm-pipeline", run.tool_version, None),
    ]
    for row, (label, value, kind) in enumerate(facts, start=2):
        sheet.write(row, 0, label, fmt["label"])
        if value is None:
            sheet.write_blank(row, 1, None)
        else:
            sheet.write(row, 1, value, fmt[kind] if kind else None)
    top = len(facts) + 3
    heads = [
        "Table",
        "Sheet",
        "Result",
        "Match score",
        "Source rows",
        "Target rows",
        "Missing",
        "Extra",
        "Changed",
        "Errors",
        "Warnings",
    ]
    sheet.write_row(top, 0, heads, fmt["head"])
    for offset, (section, name) in enumerate(zip(report.tables, names, strict=True), start=1):
        c = section.counts
        sheet.write_string(top + offset, 0, section.name)
        sheet.write_url(top + offset, 1, f"internal:'{name}'!A1", string=name)
        sheet.write_string(
            top + offset, 2, "pass" if section.passed else "fail", fmt["info" if section.passed else "error"]
        )
        if c is not None:
            sheet.write_number(top + offset, 3, c.match_score, fmt["pct"])
            for col, value in enumerate(
                (c.source_rows, c.target_rows, c.missing_rows, c.extra_rows, c.changed_rows), 4
            ):
                sheet.write_number(top + offset, col, value, fmt["int"])
        sheet.write_number(top + offset, 9, section.severity_counts.get("error", 0), fmt["int"])
        sheet.write_number(top + offset, 10, section.severity_counts.get("warning", 0), fmt["int"])
    sheet.set_column(0, 0, 30)
    sheet.set_column(1, 1, 48)
    sheet.set_column(2, 10, 13)


def _table_sheet(sheet: Any, section: TableSection, report: ReportData, fmt: dict[str, Any]) -> None:
    sheet.write(0, 0, section.name, fmt["title"])
    row = 2
    c = section.counts
    if c is not None:
        for label, value in (
            ("Source rows", c.source_rows),
            ("Target rows", c.target_rows),
            ("Matched rows", c.matched_rows),
            ("Missing rows", c.missing_rows),
            ("Extra rows", c.extra_rows),
            ("Changed rows", c.changed_rows),
            ("Duplicate keys (source / target)", f"{c.duplicate_keys_source} / {c.duplicate_keys_target}"),
        ):
            sheet.write(row, 0, label, fmt["label"])
            sheet.write(row, 1, value, fmt["int"] if isinstance(value, int) else None)
            row += 1
        sheet.write(row, 0, "Match score", fmt["label"])
        sheet.write_number(row, 1, c.match_score, fmt["pct"])
        row += 2
    if section.columns:
        heads = ["Column", "Target column", "Compared", "Exact", "Equal under rule", "Mismatched", "Rule"]
        sheet.write_row(row, 0, heads, fmt["head"])
        for col in section.columns:
            row += 1
            sheet.write_row(
                row,
                0,
                [
                    col.column,
                    col.target_column,
                    col.compared,
                    col.exact,
                    sum(col.equal_under_rule.values()),
                    col.mismatched,
                    col.rule or "",
                ],
            )
        row += 2
    shown = len(section.sample)
    note = f"Findings: {shown:,} of {len(section.findings):,}"
    if section.sample_truncated:
        note += " shown; every finding is in findings.json and the CSV files"
    sheet.write(row, 0, note, fmt["label"])
    row += 1
    header_row = row
    sheet.write_row(row, 0, list(CSV_COLUMNS[1:]), fmt["head"])
    for finding in section.sample:
        row += 1
        values = finding_row(finding)[1:]
        sheet.write_row(row, 0, values)
        sheet.write_string(row, 3, str(finding.severity), fmt[str(finding.severity)])
    if shown:
        sheet.autofilter(header_row, 0, row, len(CSV_COLUMNS) - 2)
        sheet.freeze_panes(header_row + 1, 0)
    sheet.set_column(0, 0, 22)
    sheet.set_column(1, 1, 24)
    sheet.set_column(2, 3, 14)
    sheet.set_column(4, 7, 20)
    sheet.set_column(8, 9, 30)
