"""What `pm-pipeline check` prints: the summary table, the findings that answer "what is wrong,
where", the verdict, and in the end where the reports are; or one JSON document; or almost nothing.

Everything shown comes from the report model, whose values are already redacted for the report's
clearance, and every name and value from the databases is escaped before rich sees it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pm_pipeline.core.findings import Finding, JsonValue
from pm_pipeline.core.report.data_formats import run_json, table_summary_json, verdict_json
from pm_pipeline.core.report.groups import FindingGroup, group_findings, key_text, shown_in_console, visible
from pm_pipeline.core.report.model import ReportData
from pm_pipeline.core.run import CheckResult
from pm_pipeline.core.verdict import VerdictState

FORMATS = ("table", "json", "quiet")
EXAMPLES = 3
VALUE_CHARS = 48
SCREEN_LINES = 40  # when the output is no terminal (CI logs): about one screen of findings
_STYLE = {"error": "red", "warning": "yellow", "info": "dim"}


def print_summary(result: CheckResult, console: Console) -> None:
    """Rows and scores per table, and why a table was not simply read whole."""
    table = Table(title=escape(f"{result.spec.name}: {result.source_url} -> {result.target_url}"))
    for heading in (
        "table",
        "source rows",
        "target rows",
        "missing",
        "extra",
        "duplicates",
        "changed",
        "match score",
    ):
        table.add_column(heading, justify="left" if heading == "table" else "right")
    for t in result.tables:
        table.add_row(
            escape(t.table if t.table == t.target_table else f"{t.table} -> {t.target_table}"),
            f"{t.source_rows:,}",
            f"{t.target_rows:,}",
            f"{t.missing_rows:,}",
            f"{t.extra_rows:,}",
            f"{t.duplicate_keys_source + t.duplicate_keys_target:,}",
            f"{t.changed_rows:,}",
            f"{t.match_score:.4%}",
        )
    console.print(table)
    for t in result.tables:
        if t.strategy_note and t.strategy != "arrow":
            console.print(f"[dim]{escape(f'{t.table}: {t.strategy} strategy: {t.strategy_note}')}[/]")


def print_findings(
    report: ReportData, console: Console, *, where: str, screen_lines: int | None = None
) -> None:
    """The findings grouped, most important first, until about a screen is full (the terminal's
    height, else ``SCREEN_LINES``); then how many more there are and where (``where``: the report
    to open, or how to get one)."""
    if screen_lines is None:
        # The verdict and the paths follow the findings: leave them room on the screen.
        screen_lines = max(10, console.size.height - 6) if console.is_terminal else SCREEN_LINES
    findings = [f for f in report.all_findings() if shown_in_console(f)]
    if not findings:
        return
    console.print("[bold]Findings, most important first[/] (count, where, what; examples by key):")
    # Reconciliation keeps a sample of the findings of a large difference: its counts are then
    # lower bounds (the table above has the totals).
    capped = {t.name for t in report.tables if t.findings_truncated}
    lines, shown = 1, 0
    for group in group_findings(findings, examples=EXAMPLES):
        block = _group_lines(group, at_least=group.table in capped and group.check == "reconciliation")
        if lines + len(block) > screen_lines and shown:
            break
        for line in block:
            console.print(line, highlight=False, soft_wrap=True)
        lines += len(block)
        shown += min(group.count, EXAMPLES) if group.examples[0].key else group.count
    if shown < len(findings):
        console.print(
            f"{len(findings) - shown:,} more finding(s) in {escape(where)}", highlight=False, soft_wrap=True
        )


def _group_lines(group: FindingGroup, *, at_least: bool = False) -> list[str]:
    style = _STYLE.get(str(group.severity), "")
    label = f"consequence of {group.caused_by}" if group.caused_by else str(group.severity)
    head = (
        f"[{style}]{escape(label)}[/] {group.count:,}{'+' if at_least else ''} x [bold]{escape(group.where)}[/] "
        f"{escape(group.category)}: {escape(group.explanation)}"
    )
    examples = [f for f in group.examples if f.key or _has_values(f)]
    if not examples:
        return [head]
    if not any(_has_values(f) for f in examples):
        keys = "; ".join(key_text(f.key) for f in examples)
        more = f"; and {group.count - len(examples):,} more" if group.count > len(examples) else ""
        return [head, f"    {escape(keys + more)}"]
    return [head, *(f"    {escape(example_text(f))}" for f in examples)]


def _has_values(finding: Finding) -> bool:
    return finding.source_value is not None or finding.target_value is not None


def example_text(finding: Finding) -> str:
    """``key: raw -> raw (canonical c -> c)``: the canonical forms only when they read otherwise."""
    raw = f"{_short(finding.source_value)} -> {_short(finding.target_value)}"
    canonical = f"{_short(finding.source_canonical)} -> {_short(finding.target_canonical)}"
    at = key_text(finding.key)
    text = f"{at}: {raw}" if at else raw
    has_canonical = finding.source_canonical is not None or finding.target_canonical is not None
    if has_canonical and canonical != raw:
        text += f" (canonical {canonical})"
    return text


def _short(value: JsonValue) -> str:
    """A value as shown, cut to fit a line (the reports hold it whole)."""
    text = visible(value)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 2] + "…" + text[-1]


def print_verdict(result: CheckResult, console: Console) -> None:
    decision = result.verdict
    if decision.state is VerdictState.INCOMPLETE:
        checks = "; ".join(decision.incomplete_checks)
        console.print(f"[red]INCOMPLETE[/]: check(s) could not run to the end: {escape(checks)}")
    elif decision.state is VerdictState.FAIL:
        console.print("[red]FAIL[/]: differences found")
    elif decision.state is VerdictState.PASS_WITH_WARNINGS:
        console.print("[yellow]PASS[/] with warnings: differences within the accepted thresholds")
    else:
        console.print("[green]PASS[/]: source and target match")


def print_paths(files: Mapping[str, Path], console: Console, *, report_set: Path | None) -> None:
    """The files named on the command line, the report to open, and the report set's folder last,
    so that a script can take the last line."""
    shown = dict(files)
    if report_set is not None:
        shown["report"] = report_set / "report.html"
        shown["reports"] = report_set
    for kind, path in shown.items():
        console.print(f"{kind}: {escape(str(path))}", highlight=False, soft_wrap=True)


def json_document(
    report: ReportData, *, written: Mapping[str, Path], report_set: Path | None
) -> dict[str, Any]:
    """The console's answer as one JSON document: the run, its verdict, tables, grouped findings, files."""
    groups = group_findings(report.all_findings(), examples=EXAMPLES)
    return {
        "run": run_json(report.run),
        "verdict": verdict_json(report),
        "tables": [table_summary_json(t) for t in report.tables],
        "groups": [
            {
                "table": g.table,
                "column": g.column,
                "category": g.category,
                "severity": str(g.severity),
                "caused_by": g.caused_by,
                "explanation": g.explanation,
                "count": g.count,
                "examples": [f.to_json() for f in g.examples],
            }
            for g in groups
        ],
        "files": {kind: str(path) for kind, path in written.items()},
        "reports": None if report_set is None else str(report_set),
    }


def print_json(document: Mapping[str, Any], console: Console) -> None:
    console.file.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
