"""A whole bench run at 2,000 rows on DuckDB -> DuckDB without peers: every tool answers, scores, cleans up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pm_pipeline.bench.__main__ import main
from pm_pipeline.bench.tools import offered_strategies, pm_pipeline_executable


def test_tiny_bench_finds_every_seeded_difference_and_leaves_no_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    offered = offered_strategies(pm_pipeline_executable())
    strategy = ["--strategies", offered[0]] if offered else []
    args = ["--rows", "2000", "--rate", "0.01", "--seed", "3", "--pairs", "duckdb-duckdb", "--repeat", "1"]
    args += ["--tools", "floor,full-pull,pm-pipeline", "--work-dir", str(tmp_path), *strategy]

    assert main(args) == 0

    document = json.loads((tmp_path / "results-2000.json").read_text())
    by_family = {result["family"]: result for result in document["results"]}
    assert set(by_family) == {"floor", "full-pull", "pm-pipeline"}
    for family in ("full-pull", "pm-pipeline"):
        found = by_family[family]["score"]
        assert (found["recall"], found["precision"]) == (1.0, 1.0), family
        assert found["true_positives"] >= 10  # seed 3 edits 27 of the 2,000 rows
        assert by_family[family]["peak_rss_mb"] > 0
    assert by_family["floor"]["score"] is None
    assert set(by_family["pm-pipeline"]["ratios"]) == {"floor", "full-pull"}
    assert not (tmp_path / "data" / "2000").exists()  # no --keep-data: files and databases dropped
    assert not (tmp_path / "venvs").exists()  # no peer was asked for
    out = capsys.readouterr().out
    assert "DuckDB->DuckDB" in out and "x floor" in out
    assert (tmp_path / "results-2000.md").read_text().count("| DuckDB->DuckDB |") == 3


def test_bad_options_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--pairs", "oracle-pg", "--work-dir", str(tmp_path)]) == 2
    assert "--pairs" in capsys.readouterr().err
