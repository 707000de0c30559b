"""The benchmark's one table (terminal and Markdown) and its JSON record."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from pm_pipeline.core.security.masking import mask_url
from pm_pipeline_bench.run import BenchResult, ToolResult

BASELINES = ("floor", "full-pull", "reladiff", "datacompy")
HEADERS = (
    "tool",
    "pair",
    "rows",
    "wall s",
    "peak RSS MB",
    "recall",
    "precision",
    "x floor",
    "x full pull",
    "x reladiff",
    "x datacompy",
    "x no integrity",
)
# Where each pm-pipeline run spent its wall time (pm_pipeline_bench.phases). "integrity s" is the
# run's schema-and-integrity part minus that of its --no-integrity twin: the integrity checks' cost.
PHASE_HEADERS = (
    "tool",
    "pair",
    "wall s",
    "reconciliation s",
    "schema (+ integrity) s",
    "integrity s",
    "start-up + reports s",
)
NO_INTEGRITY = "no-integrity"  # the ratio of a default check to the same check with --no-integrity


def ratios(results: Sequence[ToolResult]) -> dict[tuple[str, str], dict[str, float]]:
    """Per (pair, tool): its median wall time divided by each baseline's on the same pair, and for a
    default pm-pipeline check by that of the same check with --no-integrity (key ``no-integrity``)."""
    baseline_walls = {
        (result.pair, result.family): result.wall_s
        for result in results
        if result.family in BASELINES and result.wall_s
    }
    tool_walls = {(result.pair, result.tool): result.wall_s for result in results if result.wall_s}
    table: dict[tuple[str, str], dict[str, float]] = {}
    for result in results:
        wall = result.wall_s
        table[(result.pair, result.tool)] = {
            baseline: wall / reference
            for baseline in BASELINES
            if wall is not None
            and baseline != result.family
            and (reference := baseline_walls.get((result.pair, baseline)))
        }
        twin_wall = tool_walls.get((result.pair, result.twin)) if result.twin else None
        if wall is not None and twin_wall:
            table[(result.pair, result.tool)][NO_INTEGRITY] = wall / twin_wall
    return table


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def rows_of(results: Sequence[ToolResult]) -> list[list[str]]:
    """The table's cells, one row per (tool, pair), in run order."""
    by_ratio = ratios(results)
    cells = []
    for result in results:
        found = result.score
        factors = by_ratio[(result.pair, result.tool)]
        wall = "failed" if result.error else _number(result.wall_s, 2)
        cells.append(
            [
                result.tool,
                result.pair_label,
                f"{result.rows:,}",
                wall,
                "-" if result.error else f"{result.peak_rss_mb:.0f}",
                _number(found.recall if found else None, 3),
                _number(found.precision if found else None, 3),
                *(f"{factors[name]:.2f}x" if name in factors else "-" for name in (*BASELINES, NO_INTEGRITY)),
            ]
        )
    return cells


def phase_rows_of(results: Sequence[ToolResult]) -> list[list[str]]:
    """One row per pm-pipeline run that answered: its wall time split by phase."""
    by_tool = {(result.pair, result.tool): result for result in results}
    cells = []
    for result in results:
        phase = result.phase
        if phase is None:
            continue
        twin = by_tool.get((result.pair, result.twin)) if result.twin else None
        twin_phase = twin.phase if twin else None
        integrity = None if twin_phase is None else phase.other_checks_s - twin_phase.other_checks_s
        cells.append(
            [
                result.tool,
                result.pair_label,
                _number(result.wall_s, 2),
                _number(phase.reconcile_s, 2),
                _number(phase.other_checks_s, 2),
                _number(integrity, 2),
                _number(phase.outside_s, 2),
            ]
        )
    return cells


def rich_table(result: BenchResult) -> Table:
    table = Table(title=f"pm-pipeline bench: {result.options.rows:,} rows, {result.options.repeat} repeat(s)")
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("tool", "pair") else "right")
    for cells in rows_of(result.results):
        table.add_row(*(Text(cell) for cell in cells))  # tool names like pm-pipeline[auto] are no markup
    return table


def rich_phase_table(result: BenchResult) -> Table | None:
    rows = phase_rows_of(result.results)
    if not rows:
        return None
    table = Table(title="pm-pipeline runs, phase by phase (medians)")
    for header in PHASE_HEADERS:
        table.add_column(header, justify="left" if header in ("tool", "pair") else "right")
    for cells in rows:
        table.add_row(*(Text(cell) for cell in cells))
    return table


def _markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" if h in ("tool", "pair") else "---:" for h in headers) + "|",
        *("| " + " | ".join(cells) + " |" for cells in rows),
    ]


def markdown(result: BenchResult, machine: Mapping[str, str]) -> str:
    lines = _markdown_table(HEADERS, rows_of(result.results))
    phase_rows = phase_rows_of(result.results)
    if phase_rows:
        lines += ["", *_markdown_table(PHASE_HEADERS, phase_rows)]
    lines += [
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in machine.items()) + ".",
        f"Load average at the start: {result.load_average_start}.",
        f"Data set `{result.fingerprint}`; wall time is the median of {result.options.repeat} run(s); "
        f"whole bench run {result.total_s:.0f} s.",
    ]
    failures = [r for r in result.results if r.error]
    lines += [f"- {r.tool} on {r.pair_label} failed: {r.error}" for r in failures]
    return "\n".join(lines) + "\n"


def to_json(result: BenchResult, machine: Mapping[str, str]) -> dict[str, Any]:
    by_ratio = ratios(result.results)
    options = dataclasses.asdict(result.options)
    options["work_dir"] = str(options["work_dir"])
    options["postgres"] = mask_url(options["postgres"])
    options["mariadb"] = mask_url(options["mariadb"])
    return {
        "options": options,
        "fingerprint": result.fingerprint,
        "machine": dict(machine),
        "generate_s": result.generate_s,
        "loads_s": result.loads,
        "strategies": list(result.strategies),
        "total_s": result.total_s,
        "load_average_start": result.load_average_start,
        "results": [
            {
                "tool": r.tool,
                "family": r.family,
                "pair": r.pair,
                "pair_label": r.pair_label,
                "rows": r.rows,
                "wall_s": r.wall_s,
                "walls_s": r.walls_s,
                "peak_rss_mb": r.peak_rss_mb,
                "score": dataclasses.asdict(r.score) if r.score else None,
                "ratios": by_ratio[(r.pair, r.tool)],
                "phases": dataclasses.asdict(r.phase) if r.phase else None,
                "error": r.error,
            }
            for r in result.results
        ],
    }
