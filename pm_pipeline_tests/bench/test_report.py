"""The bench's table: ratios to each baseline on the same pair only, failures shown, Markdown and JSON alike."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from rich.console import Console

from pm_pipeline_bench.phases import Phases
from pm_pipeline_bench.report import (
    HEADERS,
    PHASE_HEADERS,
    markdown,
    phase_rows_of,
    ratios,
    rich_table,
    rows_of,
    to_json,
)
from pm_pipeline_bench.run import BenchOptions, BenchResult, ToolResult
from pm_pipeline_bench.score import Score

PERFECT = Score(
    reported=4,
    true_positives=4,
    false_positives=0,
    float_noise_reported=0,
    missed=0,
    recall=1.0,
    precision=1.0,
)
NOISY = Score(
    reported=8,
    true_positives=4,
    false_positives=4,
    float_noise_reported=4,
    missed=0,
    recall=1.0,
    precision=0.5,
)


def _result(tool: str, family: str, pair: str, walls: list[float], score: Score | None = None) -> ToolResult:
    return ToolResult(
        tool,
        family,
        pair,
        pair.upper(),
        1000,
        walls_s=walls,
        peak_rss_mb=100.0,
        scores=[score] if score else [],
    )


RESULTS = [
    _result("floor", "floor", "pg", [2.0, 9.0, 1.0]),  # median 2.0, not the mean
    _result("full-pull", "full-pull", "pg", [4.0], PERFECT),
    _result("pm-pipeline", "pm-pipeline", "pg", [3.0], PERFECT),
    _result("reladiff", "reladiff", "pg", [12.0], NOISY),
    _result("pm-pipeline[auto]", "pm-pipeline", "duck", [1.0], PERFECT),  # no baseline on this pair
]


def test_ratios_divide_by_the_median_of_the_baseline_on_the_same_pair() -> None:
    table = ratios(RESULTS)
    assert table[("pg", "pm-pipeline")] == {"floor": 1.5, "full-pull": 0.75, "reladiff": 0.25}
    assert table[("pg", "floor")] == {"full-pull": 0.5, "reladiff": 2.0 / 12.0}
    assert table[("duck", "pm-pipeline[auto]")] == {}


def test_rows_show_scores_and_dashes_where_nothing_was_measured() -> None:
    cells = {(row[0], row[1]): dict(zip(HEADERS, row, strict=True)) for row in rows_of(RESULTS)}
    ours = cells[("pm-pipeline", "PG")]
    assert (ours["wall s"], ours["x floor"], ours["x datacompy"]) == ("3.00", "1.50x", "-")
    assert cells[("reladiff", "PG")]["precision"] == "0.500"
    assert cells[("floor", "PG")]["recall"] == "-"
    assert cells[("pm-pipeline[auto]", "DUCK")]["x full pull"] == "-"


def test_a_failed_tool_is_shown_failed_and_is_no_baseline() -> None:
    failed = _result("reladiff", "reladiff", "pg", [5.0])
    failed.error = "boom"
    results = [*RESULTS[:3], failed]
    assert "reladiff" not in ratios(results)[("pg", "pm-pipeline")]
    assert rows_of(results)[-1][3] == "failed"


def _ours(tool: str, wall: float, other_checks: float, *, twin: str | None = None) -> ToolResult:
    result = _result(tool, "pm-pipeline", "pg", [wall], PERFECT)
    result.phases = [
        Phases(reconcile_s=2.0, other_checks_s=other_checks, outside_s=wall - 2.0 - other_checks)
    ]
    result.twin = twin
    return result


WITH_INTEGRITY = [
    _ours("pm-pipeline[auto]", 9.0, 6.5, twin="pm-pipeline[auto,no-integrity]"),
    _ours("pm-pipeline[auto,no-integrity]", 3.0, 0.5),
    _result("pm-pipeline[auto]", "pm-pipeline", "duck", [1.0], PERFECT),  # its twin is on another pair
]


def test_the_default_check_is_compared_with_its_no_integrity_twin_on_the_same_pair() -> None:
    table = ratios([*RESULTS[:1], *WITH_INTEGRITY])
    assert table[("pg", "pm-pipeline[auto]")] == {"floor": 4.5, "no-integrity": 3.0}
    assert "no-integrity" not in table[("pg", "pm-pipeline[auto,no-integrity]")]
    assert "no-integrity" not in table[("duck", "pm-pipeline[auto]")]
    cells = {(row[0], row[1]): dict(zip(HEADERS, row, strict=True)) for row in rows_of(WITH_INTEGRITY)}
    assert cells[("pm-pipeline[auto]", "PG")]["x no integrity"] == "3.00x"


def test_phases_split_each_run_and_the_integrity_cost_is_the_difference_with_its_twin() -> None:
    rows = {
        (row[0], row[1]): dict(zip(PHASE_HEADERS, row, strict=True)) for row in phase_rows_of(WITH_INTEGRITY)
    }
    assert set(rows) == {
        ("pm-pipeline[auto]", "PG"),
        ("pm-pipeline[auto,no-integrity]", "PG"),
    }  # duck: none read
    default = rows[("pm-pipeline[auto]", "PG")]
    assert (default["reconciliation s"], default["schema (+ integrity) s"]) == ("2.00", "6.50")
    assert (default["integrity s"], default["start-up + reports s"]) == ("6.00", "0.50")
    assert rows[("pm-pipeline[auto,no-integrity]", "PG")]["integrity s"] == "-"


def _bench() -> BenchResult:
    return BenchResult(
        options=BenchOptions(rows=1000, work_dir=Path("/tmp/x")),
        fingerprint="v1-test",
        generate_s=1.0,
        loads={"DuckDB source.duckdb": None},
        results=RESULTS,
        strategies=("auto",),
        total_s=42.0,
    )


def test_markdown_has_every_row_and_the_machine() -> None:
    text = markdown(_bench(), {"nproc": "2", "ram": "23.5 GiB"})
    lines = text.splitlines()
    assert lines[0].startswith("| tool | pair | rows |")
    assert sum(line.startswith("| ") for line in lines) == 1 + len(RESULTS)
    assert "nproc 2" in text and "ram 23.5 GiB" in text


def test_json_masks_the_server_passwords() -> None:
    bench = _bench()
    options = BenchOptions(
        rows=1000,
        work_dir=Path("/tmp/x"),
        postgres="postgresql://postgres:pg-s3cret@db.example:5432",
        mariadb="mysql://root:my-s3cret@db.example:3306",
    )
    text = json.dumps(to_json(dataclasses.replace(bench, options=options), {"nproc": "2"}))
    assert "s3cret" not in text
    document = json.loads(text)
    assert document["options"]["postgres"] == "postgresql://postgres:***@db.example:5432"
    assert document["options"]["mariadb"] == "mysql://root:***@db.example:3306"


def test_json_and_terminal_table_carry_the_same_figures() -> None:
    document = json.loads(json.dumps(to_json(_bench(), {"nproc": "2"})))
    ours = next(r for r in document["results"] if r["tool"] == "pm-pipeline" and r["pair"] == "pg")
    assert ours["ratios"]["reladiff"] == 0.25 and ours["score"]["precision"] == 1.0
    console = Console(width=200, record=True)
    console.print(rich_table(_bench()))
    shown = console.export_text()
    assert "1.50x" in shown
    assert "pm-pipeline[auto]" in shown  # a strategy in brackets is text, not rich markup
