"""Start-up of the pm-pipeline command: `--help`, usage errors and `validate-spec` load no heavy library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pm_pipeline.cli.common import CHECK_STRATEGIES
from pm_pipeline.core.config.spec import STRATEGIES

# Each costs a tenth of a second to seconds to import; none is needed to parse a command line.
HEAVY = ("pyarrow", "polars", "duckdb", "great_expectations", "dagster", "pandas")

_PROBE = """
import json, sys
from pm_pipeline.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # argparse leaves --help with SystemExit(0)
    code = exc.code
loaded = sorted({name.split(".")[0] for name in sys.modules})
sys.stdout.flush()
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


def _modules_after(*argv: str) -> tuple[int, set[str]]:
    """Run the command in a fresh interpreter; its exit code and the top-level modules it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=120, check=False
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return int(report["code"]), set(report["loaded"])


@pytest.mark.parametrize(
    "argv",
    [
        ("--help",),
        ("check", "--help"),  # the check's help lists the strategies: no spec model for them
        ("rollback", "--help"),  # the rollback parser is built for every command
        ("check", "--strategy", "nonsense", "--source", "a", "--target", "b"),  # a usage error, exit 2
    ],
)
def test_parsing_loads_no_heavy_library(argv: tuple[str, ...]) -> None:
    code, loaded = _modules_after(*argv)
    assert code in (0, 2)
    heavy = loaded & {*HEAVY, "pydantic"}  # nor the spec's models: nothing here reads a spec
    assert not heavy, f"pm-pipeline {' '.join(argv)} imported {sorted(heavy)}"


def test_validate_spec_loads_no_engine_or_dataframe_library(tmp_path: Path) -> None:
    spec = tmp_path / "migration.yaml"
    spec.write_text(
        "name: startup\nsource: {url: 'sqlite:///a.db'}\ntarget: {url: 'sqlite:///b.db'}\n"
        "tables: [{source: t}]\n",
        encoding="utf-8",
    )
    code, loaded = _modules_after("validate-spec", str(spec))
    assert code == 0
    heavy = loaded & set(HEAVY)
    assert not heavy, f"validate-spec imported {sorted(heavy)}"


def test_the_command_line_offers_the_spec_strategies() -> None:
    assert CHECK_STRATEGIES == STRATEGIES


def test_the_check_module_leaves_scipy_until_a_workload_runs() -> None:
    # scipy costs about a second to import; a check without a performance workload never needs it.
    probe = "import sys, pm_pipeline.core.run; print('scipy' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False"
