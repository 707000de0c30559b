"""Which tools run where, and which pm-pipeline strategies the bench runs (read from `check --help`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pm_pipeline.bench.load import Server
from pm_pipeline.bench.pairs import PAIR_NAMES, Servers, build_pairs
from pm_pipeline.bench.run import resolve_strategies
from pm_pipeline.bench.tools import invocations, parse_strategies, supports
from pm_pipeline.core.errors import BadInputError

SERVERS = Servers(
    postgres=Server("postgresql", "127.0.0.1", 5432, "postgres", ""),
    mariadb=Server("mysql", "127.0.0.1", 3306, "root", ""),
)
PAIRS = {pair.name: pair for pair in build_pairs(PAIR_NAMES, servers=SERVERS, data_dir=Path("/tmp/bench"))}


def test_strategy_choices_are_read_from_the_help_text() -> None:
    with_option = "usage: pm-pipeline check [--strategy {auto,arrow,pushdown,bucket}]\n"
    assert parse_strategies(with_option) == ("auto", "arrow", "pushdown", "bucket")
    assert parse_strategies("usage: pm-pipeline check [--json JSON]") is None
    assert parse_strategies("  --strategy STRATEGY  how to reconcile") == ()


def test_requested_strategies_must_exist() -> None:
    offered = ("auto", "pushdown")
    assert resolve_strategies(None, offered) == offered
    assert resolve_strategies(("pushdown",), offered) == ("pushdown",)
    assert resolve_strategies(None, None) == (None,)
    with pytest.raises(BadInputError, match="unknown strategy bucket"):
        resolve_strategies(("bucket",), offered)
    with pytest.raises(BadInputError, match="no --strategy option"):
        resolve_strategies(("auto",), None)


def test_peers_run_where_the_issue_measures_them() -> None:
    assert [name for name, pair in PAIRS.items() if supports("reladiff", pair)] == ["pg-pg", "mariadb-pg"]
    assert [name for name, pair in PAIRS.items() if supports("datacompy", pair)] == ["duckdb-duckdb"]
    assert all(supports("floor", pair) and supports("full-pull", pair) for pair in PAIRS.values())


def test_pm_pipeline_runs_once_per_strategy_with_the_option_only_when_given(tmp_path: Path) -> None:
    executables = {"pm-pipeline": Path("/venv/bin/pm-pipeline")}
    plain, pushdown = invocations(
        "pm-pipeline",
        PAIRS["pg-pg"],
        out_dir=tmp_path,
        strategies=(None, "pushdown"),
        executables=executables,
    )
    assert plain.tool == "pm-pipeline" and "--strategy" not in plain.command
    assert pushdown.tool == "pm-pipeline[pushdown]"
    assert pushdown.command[-2:] == ("--strategy", "pushdown")
    assert pushdown.command[6:8] == ("--tables", "orders")
