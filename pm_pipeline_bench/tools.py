"""How each benchmarked tool is started on a pair and how its answer is read back as row findings."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pm_pipeline.core.canonical.plan import DEFAULT_FLOAT_REL_TOLERANCE
from pm_pipeline_bench import score
from pm_pipeline_bench.generate import COLUMNS, TABLE
from pm_pipeline_bench.measure import Measured, ToolFailed
from pm_pipeline_bench.pairs import Pair
from pm_pipeline_bench.score import RowFinding

TOOL_NAMES = ("floor", "full-pull", "pm-pipeline", "reladiff", "datacompy")
OURS = "pm-pipeline"
_DATACOMPY_SCRIPT = Path(__file__).with_name("datacompy_compare.py")


# `pm-pipeline check` as the README shows it runs the integrity checks ("on"); "off" is the same
# check with --no-integrity, reconciliation and schema comparison only, as the peers do.
INTEGRITY_MODES = ("on", "off")


@dataclass(frozen=True)
class Invocation:
    tool: str  # as shown: "pm-pipeline[auto]", "pm-pipeline[pushdown,no-integrity]", "floor", ...
    family: str  # one of TOOL_NAMES
    command: tuple[str, ...]
    output: Path
    read: Callable[[Measured, Path], frozenset[RowFinding] | None]
    env: dict[str, str] = field(default_factory=dict)
    twin: str | None = None  # the same pm-pipeline check with --no-integrity, for the integrity cost


def supports(family: str, pair: Pair) -> bool:
    engines = {pair.source.engine, pair.target.engine}
    if family == "reladiff":  # installed with its PostgreSQL and MySQL drivers only
        return "duckdb" not in engines
    if family == "datacompy":  # in-memory frames; the issue asks for DuckDB -> DuckDB
        return engines == {"duckdb"}
    return True


def pm_pipeline_executable() -> Path:
    return Path(sys.executable).with_name("pm-pipeline")


def _ours_read(measured: Measured, output: Path) -> frozenset[RowFinding]:
    if measured.exit_code not in (0, 1) or not output.exists():
        raise ToolFailed(_last_line(measured.stderr) or f"exit {measured.exit_code}")
    return score.from_findings_json(output)


def _worker_read(measured: Measured, output: Path) -> frozenset[RowFinding] | None:
    if measured.exit_code != 0 or not output.exists():
        raise ToolFailed(_last_line(measured.stderr) or f"exit {measured.exit_code}")
    document = json.loads(output.read_text())
    return score.from_key_lists(document) if "missing" in document else None


def _reladiff_read(measured: Measured, output: Path) -> frozenset[RowFinding]:
    errors = [line for line in measured.stderr.splitlines() if " ERROR " in line or "Traceback" in line]
    if measured.exit_code != 0 or errors:
        raise ToolFailed(errors[-1].strip() if errors else _last_line(measured.stderr))
    output.write_text(measured.stdout)
    return score.from_reladiff(measured.stdout)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def ours_name(strategy: str, *, integrity: bool) -> str:
    return f"{OURS}[{strategy}]" if integrity else f"{OURS}[{strategy},no-integrity]"


def _ours(
    pair: Pair, out_dir: Path, strategy: str, executable: Path, check_args: Sequence[str], *, integrity: bool
) -> Invocation:
    tool = ours_name(strategy, integrity=integrity)
    output = out_dir / f"{tool}.json"
    command = [str(executable), "check", "--source", pair.source.url, "--target", pair.target.url]
    command += ["--tables", TABLE, "--json", str(output), "--no-progress"]
    command += [] if integrity else ["--no-integrity"]
    command += ["--strategy", strategy, *check_args]
    twin = ours_name(strategy, integrity=False) if integrity else None
    return Invocation(tool, OURS, tuple(command), output, _ours_read, twin=twin)


def _baseline(family: str, pair: Pair, out_dir: Path) -> Invocation:
    output = out_dir / f"{family}.json"
    mode = "floor" if family == "floor" else "pull"
    command = [sys.executable, "-m", "pm_pipeline_bench.baselines", mode]
    command += [pair.source.engine, pair.source.url, pair.target.engine, pair.target.url, str(output)]
    command += [] if mode == "floor" else [repr(DEFAULT_FLOAT_REL_TOLERANCE)]
    return Invocation(family, family, tuple(command), output, _worker_read)


def _reladiff(pair: Pair, out_dir: Path, executable: Path) -> Invocation:
    command = [str(executable), pair.source.url, TABLE, pair.target.url, TABLE, "-k", "id"]
    command += [part for name in COLUMNS if name != "id" for part in ("-c", name)]
    # --skip-sort-results: sorting the diff crashes on NULL values ('<' between str and NoneType)
    command += ["--algorithm", "hashdiff", "--threads", "2", "--json", "--skip-sort-results"]
    output = out_dir / "reladiff.jsonl"
    # rich wraps long JSON lines at the terminal width; a wide COLUMNS keeps each diff on one line
    return Invocation("reladiff", "reladiff", tuple(command), output, _reladiff_read, {"COLUMNS": "1000000"})


def _datacompy(pair: Pair, out_dir: Path, executable: Path) -> Invocation:
    output = out_dir / "datacompy.json"
    command = [
        str(executable),
        str(_DATACOMPY_SCRIPT),
        str(pair.source.path),
        str(pair.target.path),
        str(output),
        repr(DEFAULT_FLOAT_REL_TOLERANCE),
    ]
    return Invocation("datacompy", "datacompy", tuple(command), output, _worker_read)


def invocations(
    family: str,
    pair: Pair,
    *,
    out_dir: Path,
    strategies: Sequence[str],
    executables: dict[str, Path],
    check_args: Sequence[str] = (),
    integrity: Sequence[str] = INTEGRITY_MODES,
) -> list[Invocation]:
    """The runs of one tool family on one pair: for pm-pipeline one per strategy and ``integrity``
    mode (``on``: the default check; ``off``: with --no-integrity), given ``check_args``."""
    if family == OURS:
        return [
            _ours(pair, out_dir, strategy, executables[OURS], check_args, integrity=mode == "on")
            for strategy in strategies
            for mode in integrity
        ]
    if family in ("floor", "full-pull"):
        return [_baseline(family, pair, out_dir)]
    if family == "reladiff":
        return [_reladiff(pair, out_dir, executables["reladiff"])]
    if family == "datacompy":
        return [_datacompy(pair, out_dir, executables["datacompy"])]
    raise ValueError(f"unknown tool {family!r}; known: {', '.join(TOOL_NAMES)}")
