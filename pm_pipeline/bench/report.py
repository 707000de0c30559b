"""The benchmark's one table (terminal and Markdown) and its JSON record."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from pm_pipeline.bench.run import BenchResult, ToolResult
from pm_pipeline.core.connectors import mask_url

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
)


def ratios(results: Sequence[ToolResult]) -> dict[tuple[str, str], dict[str, float]]:
    """Per (pair, tool): its median wall time divided by each baseline's on the same pair."""
    baseline_walls = {
        (result.pair, result.family): result.wall_s
        for result in results
        if result.family in BASELINES and result.wall_s
    }
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
                *(f"{factors[name]:.2f}x" if name in factors else "-" for name in BASELINES),
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


def markdown(result: BenchResult, machine: Mapping[str, str]) -> str:
    lines = [
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join("---" if h in ("tool", "pair") else "---:" for h in HEADERS) + "|",
        *("| " + " | ".join(cells) + " |" for cells in rows_of(result.results)),
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
                "error": r.error,
            }
            for r in result.results
        ],
    }
