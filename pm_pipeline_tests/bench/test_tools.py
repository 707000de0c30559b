"""Which tools run where, and which pm-pipeline strategies the bench runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pm_pipeline.core.canonical.plan import DEFAULT_FLOAT_REL_TOLERANCE
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.reconcile.sides import STRATEGIES
from pm_pipeline_bench.load import Server
from pm_pipeline_bench.pairs import PAIR_NAMES, Servers, build_pairs
from pm_pipeline_bench.run import resolve_strategies
from pm_pipeline_bench.tools import Invocation, invocations, supports

SERVERS = Servers(
    postgres=Server("postgresql", "127.0.0.1", 5432, "postgres", ""),
    mariadb=Server("mysql", "127.0.0.1", 3306, "root", ""),
)
PAIRS = {pair.name: pair for pair in build_pairs(PAIR_NAMES, servers=SERVERS, data_dir=Path("/tmp/bench"))}


def test_requested_strategies_must_exist() -> None:
    assert resolve_strategies(()) == STRATEGIES
    assert resolve_strategies(("pushdown",)) == ("pushdown",)
    with pytest.raises(BadInputError, match="unknown strategy hashjoin"):
        resolve_strategies(("auto", "hashjoin"))


def test_peers_run_where_the_issue_measures_them() -> None:
    assert [name for name, pair in PAIRS.items() if supports("reladiff", pair)] == ["pg-pg", "mariadb-pg"]
    assert [name for name, pair in PAIRS.items() if supports("datacompy", pair)] == ["duckdb-duckdb"]
    assert all(supports("floor", pair) and supports("full-pull", pair) for pair in PAIRS.values())


def test_pm_pipeline_runs_once_per_strategy(tmp_path: Path) -> None:
    executables = {"pm-pipeline": Path("/venv/bin/pm-pipeline")}
    auto, pushdown = invocations(
        "pm-pipeline",
        PAIRS["pg-pg"],
        out_dir=tmp_path,
        strategies=("auto", "pushdown"),
        executables=executables,
        integrity=("on",),
    )
    assert auto.tool == "pm-pipeline[auto]" and auto.command[-2:] == ("--strategy", "auto")
    assert pushdown.tool == "pm-pipeline[pushdown]"
    assert pushdown.command[-2:] == ("--strategy", "pushdown")
    assert pushdown.command[6:8] == ("--tables", "orders")


def test_the_default_check_runs_beside_the_same_check_without_integrity(tmp_path: Path) -> None:
    # The bench once timed only --no-integrity runs, while users run the default command with the
    # integrity checks: both are measured, and the default names its twin for the ratio.
    default, reconcile_only = invocations(
        "pm-pipeline",
        PAIRS["mariadb-pg"],
        out_dir=tmp_path,
        strategies=("auto",),
        executables={"pm-pipeline": Path("/venv/bin/pm-pipeline")},
    )
    assert default.tool == "pm-pipeline[auto]" and "--no-integrity" not in default.command
    assert (
        reconcile_only.tool == "pm-pipeline[auto,no-integrity]" and "--no-integrity" in reconcile_only.command
    )
    assert (default.twin, reconcile_only.twin) == ("pm-pipeline[auto,no-integrity]", None)
    assert default.output != reconcile_only.output

    def same_check(call: Invocation) -> list[str]:
        return [part for part in call.command if part not in ("--no-integrity", str(call.output))]

    assert same_check(default) == same_check(reconcile_only)


def test_datacompy_is_given_pm_pipelines_float_tolerance(tmp_path: Path) -> None:
    (call,) = invocations(
        "datacompy",
        PAIRS["duckdb-duckdb"],
        out_dir=tmp_path,
        strategies=(),
        executables={"datacompy": Path("/venv/bin/python")},
    )
    assert float(call.command[-1]) == DEFAULT_FLOAT_REL_TOLERANCE
    assert call.command[-2] == str(tmp_path / "datacompy.json")


def test_only_the_full_pull_is_given_the_float_tolerance(tmp_path: Path) -> None:
    calls = {
        family: invocations(family, PAIRS["pg-pg"], out_dir=tmp_path, strategies=(), executables={})[0]
        for family in ("floor", "full-pull")
    }
    assert calls["floor"].command[-1] == str(tmp_path / "floor.json")
    assert calls["full-pull"].command[-2:] == (
        str(tmp_path / "full-pull.json"),
        repr(DEFAULT_FLOAT_REL_TOLERANCE),
    )
