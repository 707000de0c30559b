"""``python -m pm_pipeline_bench``: the reconciliation benchmark (``make bench``).

Writes ``<work-dir>/results-<rows>.json`` and ``.md`` and prints one table. Exit codes: 0 every
run answered, 1 some tool failed (see the notes under the table), 2 bad options, 3 a server failed.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from pm_pipeline.core.config.spec import STRATEGIES
from pm_pipeline.core.errors import BadInputError, PmError
from pm_pipeline_bench import generate, machine, report, tools
from pm_pipeline_bench.pairs import PAIR_NAMES
from pm_pipeline_bench.run import BenchOptions, parse_servers, run_bench


def _choices(known: Sequence[str]) -> Any:
    def parse(value: str) -> tuple[str, ...]:
        names = tuple(name.strip() for name in value.split(",") if name.strip())
        unknown = [name for name in names if name not in known]
        if not names or unknown:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(known)}")
        return names

    return parse


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInputError(f"{message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    defaults = BenchOptions()
    parser = _Parser(prog="python -m pm_pipeline_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=defaults.rows, help="rows per side (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="generator seed")
    parser.add_argument("--rate", type=float, default=defaults.rate, help="share of rows to report (0.0001)")
    parser.add_argument(
        "--pairs", type=_choices(PAIR_NAMES), default=defaults.pairs, help=",".join(PAIR_NAMES)
    )
    tool_help = ",".join(tools.TOOL_NAMES)
    parser.add_argument("--tools", type=_choices(tools.TOOL_NAMES), default=defaults.tools, help=tool_help)
    parser.add_argument(
        "--strategies",
        type=_choices(STRATEGIES),
        default=defaults.strategies,
        help=f"pm-pipeline --strategy values (default: all, {','.join(STRATEGIES)})",
    )
    parser.add_argument(
        "--integrity",
        type=_choices(tools.INTEGRITY_MODES),
        default=defaults.integrity,
        help="pm-pipeline check with its integrity checks (on: the default command) and/or "
        "--no-integrity (off); default on,off",
    )
    parser.add_argument(
        "--check-args", type=shlex.split, default=(), help="more options for every `pm-pipeline check` run"
    )
    parser.add_argument(
        "--repeat", type=int, default=defaults.repeat, help="runs per tool; wall is the median"
    )
    parser.add_argument("--keep-data", action="store_true", help="keep files and databases for the next run")
    parser.add_argument("--work-dir", type=Path, default=defaults.work_dir, help="default .bench")
    parser.add_argument("--postgres", default=defaults.postgres, help="PostgreSQL server URL (no database)")
    parser.add_argument("--mariadb", default=defaults.mariadb, help="MariaDB server URL (no database)")
    parser.add_argument("--timeout", type=float, default=defaults.timeout_s, help="seconds per tool run")
    return parser


def _check(args: argparse.Namespace) -> None:
    """Every option the generator or the runs would refuse late, refused before anything starts."""
    try:
        generate.check_rows(args.rows)
    except ValueError as exc:
        raise BadInputError(f"--rows {args.rows}: {exc}") from None
    try:
        generate.check_rate(args.rate)
    except ValueError as exc:
        raise BadInputError(f"--rate {args.rate}: {exc}") from None
    if args.repeat < 1:
        raise BadInputError(f"--repeat {args.repeat}: must be at least 1")
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise BadInputError(f"--timeout {args.timeout}: must be a positive number of seconds")


def _options(args: argparse.Namespace) -> BenchOptions:
    _check(args)
    return BenchOptions(
        rows=args.rows,
        seed=args.seed,
        rate=args.rate,
        pairs=args.pairs,
        tools=args.tools,
        strategies=args.strategies,
        check_args=tuple(args.check_args),
        integrity=args.integrity,
        repeat=args.repeat,
        keep_data=args.keep_data,
        work_dir=args.work_dir.resolve(),
        postgres=args.postgres,
        mariadb=args.mariadb,
        timeout_s=args.timeout,
    )


def main(argv: Sequence[str] | None = None) -> int:
    console = Console(width=max(Console().width, 210))  # the table has 12 columns
    errors = Console(stderr=True)
    try:
        options = _options(build_parser().parse_args(argv))
        servers = parse_servers(options)
        result = run_bench(
            options, servers=servers, log=lambda line: errors.print(line, highlight=False, markup=False)
        )
    except PmError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    described = machine.describe(
        postgres=servers.postgres, mariadb=servers.mariadb, venvs=options.work_dir / "venvs"
    )
    table_md = report.markdown(result, described)
    stem = options.work_dir / f"results-{options.rows}"
    stem.with_suffix(".json").write_text(json.dumps(report.to_json(result, described), indent=2))
    stem.with_suffix(".md").write_text(table_md)
    console.print(report.rich_table(result))
    phases = report.rich_phase_table(result)
    if phases is not None:
        console.print(phases)
    for failed in (r for r in result.results if r.error):
        console.print(
            f"{failed.tool} on {failed.pair_label} failed: {failed.error}", highlight=False, markup=False
        )
    console.print(
        f"results: {stem.with_suffix('.json')} and {stem.with_suffix('.md')}", highlight=False, markup=False
    )
    return 1 if any(r.error for r in result.results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
