"""Markdown summary: short enough for a pull-request comment and the Dagster UI."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pm_pipeline.core.report.model import ReportData, Verdict

_MAX_TABLE_ROWS = 50
_ICON = {
    Verdict.READY: "✅",
    Verdict.READY_WITH_RISKS: "⚠️",
    Verdict.NOT_READY: "❌",
    Verdict.INCOMPLETE: "⛔",
}


def pct(score: float | None) -> str:
    return "n/a" if score is None else f"{score * 100:.2f} %"


def _md(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


def render_markdown(report: ReportData, *, links: Mapping[str, str] | None = None) -> str:
    run = report.run
    counts = report.severity_counts
    lines = [
        f"## {_ICON[report.verdict]} Migration `{_md(run.spec_name)}`: **{report.verdict.label}**",
        "",
        f"Overall match score **{pct(report.overall_match_score)}** "
        f"(threshold {pct(report.thresholds.min_match_score)}) · "
        f"errors: {counts.get('error', 0):,} · warnings: {counts.get('warning', 0):,} · "
        f"infos: {counts.get('info', 0):,} · tables: {len(report.tables)}",
        "",
        f"Run `{_md(run.run_id)}` from {run.started_at.isoformat()} to {run.finished_at.isoformat()}, "
        f"launched by {_md(run.launched_by)}; spec checksum `{_md(run.spec_checksum)}`; "
        f"source {_md(run.source_engine_version)}, target {_md(run.target_engine_version)}.",
        "",
        f"Clearance: **{report.clearance}**. Values of columns classified above it are masked "
        f"({'fixed mask' if report.redaction == 'fixed' else 'keyed hash'}).",
        "",
        "| Table | Result | Match score | Source rows | Target rows | Missing | Extra | Changed | Errors | Warnings |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for section in report.tables[:_MAX_TABLE_ROWS]:
        c = section.counts
        cells = [
            f"`{_md(section.name)}`",
            "pass" if section.passed else "**fail**",
            pct(None if c is None else c.match_score),
            *(
                ["", "", "", "", ""]
                if c is None
                else [
                    f"{v:,}"
                    for v in (c.source_rows, c.target_rows, c.missing_rows, c.extra_rows, c.changed_rows)
                ]
            ),
            str(section.severity_counts.get("error", 0)),
            str(section.severity_counts.get("warning", 0)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if len(report.tables) > _MAX_TABLE_ROWS:
        lines.append(f"\n… and {len(report.tables) - _MAX_TABLE_ROWS} more tables in the full report.")
    lines += _incomplete_and_consequences(report)
    if report.top_issues:
        lines += ["", "### Top issues", ""]
        for rank, issue in enumerate(report.top_issues, start=1):
            where = issue.table + (f".{issue.column}" if issue.column else "")
            lines.append(
                f"{rank}. **{issue.severity}** `{_md(where)}` {issue.category} × {issue.count:,}"
                + (f": {_md(issue.example)}" if issue.example else "")
            )
    if links:
        lines += ["", "Details: " + " · ".join(f"[{_md(name)}]({target})" for name, target in links.items())]
    return "\n".join(lines) + "\n"


def _incomplete_and_consequences(report: ReportData) -> list[str]:
    """Checks that could not run, and findings folded under their cause (never counted as issues)."""
    lines: list[str] = []
    incomplete = report.decision.incomplete_checks if report.decision is not None else ()
    if incomplete:
        lines += ["", "### Incomplete checks", ""]
        lines += [f"- `{_md(check)}`" for check in incomplete]
    folded = [f for f in report.all_findings() if f.caused_by is not None]
    if folded:
        lines += ["", "### Consequences (folded under their cause, not counted)", ""]
        groups: dict[tuple[str, str, str], int] = {}
        for finding in folded:
            group = (finding.table, str(finding.caused_by), str(finding.category))
            groups[group] = groups.get(group, 0) + 1
        lines += [
            f"- `{_md(table)}` {cause} → {category} × {count:,}"
            for (table, cause, category), count in sorted(groups.items())
        ]
    return lines


def write_markdown(report: ReportData, path: Path, *, links: Mapping[str, str] | None = None) -> Path:
    path.write_text(render_markdown(report, links=links), encoding="utf-8")
    return path
