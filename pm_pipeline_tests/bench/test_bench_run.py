"""A whole bench run at 2,000 rows on DuckDB -> DuckDB without peers: every tool answers, scores, cleans up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pm_pipeline.core.reconcile.sides import STRATEGIES
from pm_pipeline_bench.__main__ import main


def test_tiny_bench_finds_every_seeded_difference_and_leaves_no_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strategy = ["--strategies", STRATEGIES[0]]
    args = ["--rows", "2000", "--rate", "0.01", "--seed", "3", "--pairs", "duckdb-duckdb", "--repeat", "1"]
    args += ["--tools", "floor,full-pull,pm-pipeline", "--work-dir", str(tmp_path), *strategy]

    assert main(args) == 0

    document = json.loads((tmp_path / "results-2000.json").read_text())
    by_tool = {result["tool"]: result for result in document["results"]}
    default, reconcile_only = f"pm-pipeline[{STRATEGIES[0]}]", f"pm-pipeline[{STRATEGIES[0]},no-integrity]"
    assert set(by_tool) == {"floor", "full-pull", default, reconcile_only}
    for tool in ("full-pull", default, reconcile_only):
        found = by_tool[tool]["score"]
        assert (found["recall"], found["precision"]) == (1.0, 1.0), tool
        assert found["true_positives"] >= 10  # seed 3 edits 27 of the 2,000 rows
        assert by_tool[tool]["peak_rss_mb"] > 0
    assert by_tool["floor"]["score"] is None and by_tool["floor"]["phases"] is None
    assert set(by_tool[default]["ratios"]) == {"floor", "full-pull", "no-integrity"}
    assert set(by_tool[reconcile_only]["ratios"]) == {"floor", "full-pull"}
    for tool in (default, reconcile_only):  # the split read back from the findings JSON of the run
        phases = by_tool[tool]["phases"]
        assert phases["reconcile_s"] > 0 and phases["outside_s"] > 0, phases
        assert sum(phases.values()) <= by_tool[tool]["wall_s"] + 1e-6
    assert not (tmp_path / "data" / "2000").exists()  # no --keep-data: files and databases dropped
    assert not (tmp_path / "venvs").exists()  # no peer was asked for
    out = capsys.readouterr().out
    assert "DuckDB->DuckDB" in out and "x floor" in out
    table = (tmp_path / "results-2000.md").read_text()
    assert table.count("| DuckDB->DuckDB |") == 4 + 2  # every tool, then the phases of both checks
    assert "| integrity s |" in table and "Load average at the start" in table


def test_bad_options_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--pairs", "oracle-pg", "--work-dir", str(tmp_path)]) == 2
    assert "--pairs" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--rate", "0.9"], "--rate 0.9: difference rate 0.9 must lie between 1e-06 and 0.857142 "),
        (["--rate", "0"], "--rate 0.0: difference rate 0.0 must lie between 1e-06 and 0.857142 "),
        (["--rate", "nan"], "--rate nan: difference rate nan must lie between"),
        (["--rows", "0"], "--rows 0: rows must lie between 1 and 2**32 - 1 (4,294,967,295), got 0"),
        (["--rows", str(2**32)], "--rows 4294967296: rows must lie between 1 and 2**32 - 1"),
        (["--timeout", "0"], "--timeout 0.0: must be a positive number of seconds"),
        (["--timeout", "-5"], "--timeout -5.0: must be a positive number of seconds"),
        (["--repeat", "0"], "--repeat 0: must be at least 1"),
        (
            ["--strategies", "auto,hashjoin"],
            "argument --strategies: expected a comma-separated list of auto,",
        ),
        (
            ["--mariadb", "mysql://db.example"],
            "--mariadb: server URL mysql://db.example needs a user and a host",
        ),
        (
            ["--postgres", "postgresql://app:pw@db:port"],
            "--postgres: connection URL postgresql://app:***@db:port is malformed",
        ),
    ],
)
def test_options_are_checked_before_anything_is_installed_or_generated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str], message: str
) -> None:
    # datacompy on DuckDB->DuckDB would create its virtualenv first thing if the options got that far
    args = ["--pairs", "duckdb-duckdb", "--tools", "datacompy", "--work-dir", str(tmp_path), *option]

    assert main(args) == 2

    err = capsys.readouterr().err
    assert err.startswith(f"bench: error: {message}"), err
    assert err.count("bench:") == 1 and err.count("\n") == 1, err
    assert "pw@" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_failed_run_still_drops_its_data_unless_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # nothing listens on port 1: generating succeeds, loading PostgreSQL fails
    args = [
        "--rows",
        "500",
        "--pairs",
        "pg-pg",
        "--tools",
        "floor",
        "--postgres",
        "postgresql://postgres@127.0.0.1:1",
    ]

    assert main([*args, "--work-dir", str(tmp_path / "dropped")]) == 3
    err = capsys.readouterr().err
    assert "bench: error: loading PostgreSQL pm_bench_src failed" in err
    assert "generated in" in err  # the data existed before the failure
    assert not (tmp_path / "dropped" / "data" / "500").exists()

    assert main([*args, "--keep-data", "--work-dir", str(tmp_path / "kept")]) == 3
    assert (tmp_path / "kept" / "data" / "500" / "source.csv").exists()
