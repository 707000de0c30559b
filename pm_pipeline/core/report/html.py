"""HTML views (technical, executive, evidence) from package templates, and PDFs of them via weasyprint."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from pm_pipeline.core.findings import Finding, JsonValue
from pm_pipeline.core.report.charts import bar_chart
from pm_pipeline.core.report.groups import key_text, visible
from pm_pipeline.core.report.impact import fix_actions
from pm_pipeline.core.report.markdown import pct
from pm_pipeline.core.report.model import ReportData, TableSection, Verdict
from pm_pipeline.core.report.perf_charts import latency_chart

# visible()'s stand-ins: ␠ ␉ ␤ ␍ ⍽ and \uXXXX escapes.
_STAND_INS = re.compile(r"([␠␉␤␍⍽]+|\\u[0-9a-f]{4})")
_BREAKS = re.compile(r"(?<=[_(,=])(?=\w)|(?<=\.)(?=[A-Za-z_])")
_CHECK_ORDER = ("reconciliation", "schema", "integrity", "performance", "rollback")
_CHECK_TITLES = {
    "reconciliation": "Row and value differences",
    "schema": "Schema differences",
    "integrity": "Integrity findings",
}


def _template_text(name: str) -> str:
    return (resources.files("pm_pipeline.core.report") / "templates" / name).read_text(encoding="utf-8")


def _num(value: int | float | None) -> str:
    return "" if value is None else f"{value:,}"


def _val(value: JsonValue) -> Markup:
    """A value in one line, clipped by the stylesheet with the whole of it on hover (and on click,
    table.js): white space at either end and invisible characters shown as in the console."""
    if value is None:
        return Markup('<span class="null">NULL</span>')
    if isinstance(value, str) and (value == "***" or value.startswith("hmac:")):
        return Markup('<span class="clip masked" title="{0}">{0}</span>').format(value)
    if value == "":
        return Markup('<span class="ws" title="empty text">\'\'</span>')
    shown = visible(value)
    if isinstance(value, str):
        shown = shown[1:-1]  # the console's quotes: the cell's edges show where the text ends
    return Markup('<span class="clip" title="{0}">{1}</span>').format(shown, _marked(shown))


def _clip(text: str | None) -> Markup | str:
    """Free text (a rule's name) in one line, clipped like the values."""
    return Markup('<span class="clip" title="{0}">{0}</span>').format(text) if text else ""


def _breakable(text: str | None) -> Markup:
    """Free text that may wrap after ``_``, ``(`` or ``,`` inside long identifiers
    (``expect_column_values_to_be_between(min_value=1,``), never in the middle of a word."""
    return Markup("<wbr>").join(Markup.escape(part) for part in _BREAKS.split(text or ""))


def _marked(text: str) -> Markup:
    # The stand-ins for spaces and invisible characters are styled apart from the text itself.
    return Markup("").join(
        Markup('<span class="ws">{}</span>').format(part) if index % 2 else part
        for index, part in enumerate(_STAND_INS.split(text))
    )


def _keytext(key: Mapping[str, JsonValue] | None) -> Markup | str:
    if not key:
        return ""
    text = key_text(dict(key))
    return Markup('<span class="clip" title="{0}">{1}</span>').format(text, _marked(text))


def _when(value: dt.datetime) -> str:
    return value.isoformat(sep=" ", timespec="seconds")


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _link(path: str) -> str:
    # Relative paths stay relative to the report directory; absolute ones become file: URLs.
    return Path(path).as_uri() if Path(path).is_absolute() else quote(path)


def _mismatch_items(section: TableSection) -> list[tuple[str, int]]:
    return [(col.column, col.mismatched) for col in section.columns]


def _by_check(findings: tuple[Finding, ...]) -> list[tuple[str, list[Finding]]]:
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.check, []).append(finding)
    rank = {name: index for index, name in enumerate(_CHECK_ORDER)}
    return sorted(groups.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0]))


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_text),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=_num,
        pct=pct,
        val=_val,
        clip=_clip,
        breakable=_breakable,
        keytext=_keytext,
        when=_when,
        seconds=_seconds,
        link=_link,
    )
    env.globals.update(
        bar_chart=bar_chart,
        latency_chart=latency_chart,
        mismatch_items=_mismatch_items,
        by_check=_by_check,
        # Canonical columns only where a finding has a canonical value: schema and integrity
        # findings have none, and two empty columns would squeeze the messages.
        any_canonical=lambda findings: any(
            f.source_canonical is not None or f.target_canonical is not None for f in findings
        ),
        check_title=lambda check: _CHECK_TITLES.get(check, check.capitalize()),
        css=Markup(_template_text("report.css")),
        script=Markup(_template_text("table.js")),
    )
    return env


def render_technical_html(report: ReportData, *, links: Mapping[str, str] | None = None) -> str:
    return _environment().get_template("technical.html.j2").render(report=report, links=links or {})


def recommendation(report: ReportData) -> str:
    errors = report.severity_counts.get("error", 0)
    warnings = report.severity_counts.get("warning", 0)
    if report.verdict is Verdict.NOT_READY:
        first = report.top_issues[0] if report.top_issues else None
        start = f", starting with {first.category.replace('_', ' ')} in {first.table}" if first else ""
        return (
            f"Do not cut over yet. Fix the {errors:,} error(s){start}, then run the checks again. "
            "The technical report lists every finding with its values and rule."
        )
    if report.verdict is Verdict.INCOMPLETE:
        checks = report.decision.incomplete_checks if report.decision is not None else ()
        named = f" ({'; '.join(checks[:3])}{'; ...' if len(checks) > 3 else ''})" if checks else ""
        return (
            f"Do not cut over yet: {len(checks):,} check(s) could not run to the end{named}. "
            "Fix what the database reported, then run the checks again; until then nothing is proven."
        )
    if report.verdict is Verdict.READY_WITH_RISKS:
        return (
            f"Cut over once the data owners have reviewed and accepted the {warnings:,} warning(s) below; "
            "no check found an error."
        )
    return "Cut over: every check passed within the agreed thresholds."


def render_executive_html(report: ReportData) -> str:
    figures = {
        "rows": sum(t.counts.source_rows for t in report.tables if t.counts is not None),
        "tables_passed": sum(1 for t in report.tables if t.passed),
    }
    return (
        _environment()
        .get_template("executive.html.j2")
        .render(
            report=report,
            figures=figures,
            recommendation=recommendation(report),
            actions=fix_actions(report),
        )
    )


def render_evidence_html(report: ReportData, *, evidence: Mapping[str, Any]) -> str:
    return _environment().get_template("evidence.html.j2").render(report=report, evidence=evidence)


def write_pdf(html: str, path: Path) -> Path:
    """Render HTML to PDF. weasyprint is imported here: it is slow to import and only PDFs need it."""
    import weasyprint

    weasyprint.HTML(string=html, url_fetcher=_refuse_fetch).write_pdf(str(path))
    return path


def _refuse_fetch(url: str, *args: object, **kwargs: object) -> dict[str, Any]:
    # The templates embed everything they use; a fetch would mean a report depending on the network.
    raise ValueError(f"report PDFs fetch nothing, refused {url}")
