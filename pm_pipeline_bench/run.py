"""One benchmark run: generate, load (or reuse), run every tool on every pair, score, clean up."""

from __future__ import annotations

import os
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import psycopg
import pymysql

from pm_pipeline.core.config.spec import STRATEGIES
from pm_pipeline.core.errors import BadInputError, ConnectionFailure
from pm_pipeline_bench import baselines, generate, measure, peers, tools
from pm_pipeline_bench.generate import DataSet
from pm_pipeline_bench.load import Server
from pm_pipeline_bench.pairs import PAIR_NAMES, Pair, Servers, build_pairs, load_steps, needs_csv
from pm_pipeline_bench.phases import Phases, median_phases, read_phases
from pm_pipeline_bench.score import Score, Truth, load_truth, score
from pm_pipeline_bench.tools import INTEGRITY_MODES

Log = Callable[[str], None]


@dataclass(frozen=True)
class BenchOptions:
    rows: int = 1_000_000
    seed: int = 1
    rate: float = 0.0001
    pairs: tuple[str, ...] = PAIR_NAMES
    tools: tuple[str, ...] = tools.TOOL_NAMES
    strategies: tuple[str, ...] = STRATEGIES  # the `pm-pipeline check --strategy` values to run
    check_args: tuple[str, ...] = ()  # more options for every `pm-pipeline check` run
    integrity: tuple[str, ...] = INTEGRITY_MODES  # on: the default check; off: --no-integrity
    repeat: int = 3
    keep_data: bool = False
    work_dir: Path = Path(".bench")
    postgres: str = "postgresql://postgres@127.0.0.1:5432"
    mariadb: str = "mysql://root@127.0.0.1:3306"
    timeout_s: float = 3600.0


@dataclass
class ToolResult:
    tool: str
    family: str
    pair: str
    pair_label: str
    rows: int
    walls_s: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    scores: list[Score] = field(default_factory=list)
    error: str | None = None
    phases: list[Phases] = field(default_factory=list)  # pm-pipeline runs: where the wall time went
    twin: str | None = None  # the same pm-pipeline check with --no-integrity

    @property
    def phase(self) -> Phases | None:
        return median_phases(self.phases) if self.error is None else None

    @property
    def wall_s(self) -> float | None:
        return statistics.median(self.walls_s) if self.walls_s and self.error is None else None

    @property
    def score(self) -> Score | None:
        """The worst of the repeats (they should all agree)."""
        if not self.scores or self.error is not None:
            return None
        return min(self.scores, key=lambda s: (s.recall, s.precision if s.precision is not None else 1.0))


@dataclass(frozen=True)
class BenchResult:
    options: BenchOptions
    fingerprint: str
    generate_s: float | None  # None: reused
    loads: dict[str, float | None]  # store -> seconds, None when reused
    results: list[ToolResult]
    strategies: tuple[str, ...]
    total_s: float
    load_average_start: str = ""  # the machine is shared: how busy it was when the run began


def resolve_strategies(requested: Sequence[str]) -> tuple[str, ...]:
    """Which ``--strategy`` values to run pm-pipeline with: the requested ones, else all of them."""
    unknown = [name for name in requested if name not in STRATEGIES]
    if unknown:
        raise BadInputError(
            f"unknown strategy {', '.join(unknown)}; pm-pipeline offers {', '.join(STRATEGIES)}"
        )
    return tuple(requested) or STRATEGIES


def parse_servers(options: BenchOptions) -> Servers:
    """The PostgreSQL and MariaDB servers of ``options``; BadInputError for a URL unfit for one."""
    urls = (("--postgres", options.postgres, 5432), ("--mariadb", options.mariadb, 3306))
    parsed: list[Server] = []
    for option, url, port in urls:
        try:
            parsed.append(Server.parse(url, default_port=port))
        except (ValueError, BadInputError) as exc:
            raise BadInputError(f"{option}: {exc}") from exc
    return Servers(postgres=parsed[0], mariadb=parsed[1])


def _prepare_data(data: DataSet, pairs: Sequence[Pair], log: Log) -> float | None:
    """Generate ``data`` (and its CSV files when a pair needs them) unless it is there; seconds spent."""
    started = time.perf_counter()
    spent = None
    if generate.is_complete(data):
        log(f"data set {data.fingerprint}: reused from {data.directory}")
    else:
        generate.generate(directory=data.directory, rows=data.rows, seed=data.seed, rate=data.rate, csv=False)
        spent = time.perf_counter() - started
    if needs_csv(pairs) and not generate.csv_is_current(data):
        generate.write_csv(data)
        spent = time.perf_counter() - started
    if spent is not None:
        log(f"data set {data.fingerprint}: generated in {spent:.1f} s")
    return spent


def _load(pairs: Sequence[Pair], data: DataSet, servers: Servers, log: Log) -> dict[str, float | None]:
    loads: dict[str, float | None] = {}
    for step in load_steps(pairs, data=data, servers=servers):
        try:
            if step.current() == data.fingerprint:
                log(f"load {step.label}: reused")
                loads[step.label] = None
                continue
            loads[step.label] = step.fill()
        except (OSError, psycopg.Error, pymysql.MySQLError, duckdb.Error) as exc:
            message = " ".join(str(exc).split())
            raise ConnectionFailure(
                f"loading {step.label} failed: {message} (choose pairs with --pairs)"
            ) from exc
        log(f"load {step.label}: {loads[step.label]:.1f} s")
    return loads


@dataclass(frozen=True)
class _Context:
    options: BenchOptions
    strategies: tuple[str, ...]
    executables: dict[str, Path]
    truth: Truth
    log: Log
    results: dict[tuple[str, str], ToolResult] = field(default_factory=dict)


def _measure_pair(pair: Pair, families: Sequence[str], *, run_dir: Path, context: _Context) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    calls = [
        call
        for family in families
        for call in tools.invocations(
            family,
            pair,
            out_dir=run_dir,
            strategies=context.strategies,
            executables=context.executables,
            check_args=context.options.check_args,
            integrity=context.options.integrity,
        )
    ]
    for call in calls:
        key = (pair.name, call.tool)
        result = context.results.setdefault(
            key,
            ToolResult(call.tool, call.family, pair.name, pair.label, context.options.rows, twin=call.twin),
        )
        if result.error is not None:
            continue
        call.output.unlink(missing_ok=True)
        try:
            measured = measure.run_measured(call.command, env=call.env, timeout_s=context.options.timeout_s)
            reported = call.read(measured, call.output)
            if call.family == tools.OURS:
                result.phases.append(read_phases(call.output, wall_s=measured.wall_s))
        except measure.ToolFailed as failure:
            result.error = str(failure)
            context.log(f"{pair.label} {call.tool}: FAILED: {failure}")
            continue
        result.walls_s.append(measured.wall_s)
        result.peak_rss_mb = max(result.peak_rss_mb, measured.peak_rss_mb)
        if reported is not None:
            result.scores.append(score(reported, context.truth))
        context.log(f"{pair.label} {call.tool}: {measured.wall_s:.2f} s, {measured.peak_rss_mb:.0f} MB")


def _clean_up(pairs: Sequence[Pair], data: DataSet, servers: Servers, log: Log) -> None:
    """Drop the bench's databases and files; a store that cannot be dropped is logged, not raised."""
    for step in load_steps(pairs, data=data, servers=servers):
        try:
            step.drop()
        except (OSError, psycopg.Error, pymysql.MySQLError, duckdb.Error) as exc:
            log(f"clean-up {step.label}: failed: {' '.join(str(exc).split())}")
    shutil.rmtree(data.directory, ignore_errors=True)


def run_bench(options: BenchOptions, *, servers: Servers, log: Log) -> BenchResult:
    """Run the bench; without ``keep_data`` its databases and files are dropped, even on failure."""
    started = time.perf_counter()
    load_average_start = " ".join(f"{value:.2f}" for value in os.getloadavg())
    data = DataSet(options.work_dir / "data" / str(options.rows), options.rows, options.seed, options.rate)
    pairs = build_pairs(options.pairs, servers=servers, data_dir=data.directory)
    families = [name for name in tools.TOOL_NAMES if name in options.tools]
    strategies = resolve_strategies(options.strategies) if tools.OURS in families else ()
    try:
        executables = {tools.OURS: tools.pm_pipeline_executable()}
        for name, peer in peers.PEERS.items():
            if name in families and any(tools.supports(name, pair) for pair in pairs):
                executables[name] = peers.ensure_peer(peer, venvs=options.work_dir / "venvs")
        generate_s = _prepare_data(data, pairs, log)
        loads = _load(pairs, data, servers, log)
        for pair in pairs:  # one unmeasured scan per pair, so no tool pays for cold caches
            baselines.floor((pair.source.engine, pair.source.url), (pair.target.engine, pair.target.url))
        log("warm-up: one hashing scan of every pair done")
        context = _Context(options, strategies, executables, load_truth(data.edits_parquet), log)
        for repeat in range(options.repeat):
            for pair in pairs:
                families_here = [family for family in families if tools.supports(family, pair)]
                run_dir = options.work_dir / "runs" / str(options.rows) / pair.name / str(repeat + 1)
                _measure_pair(pair, families_here, run_dir=run_dir, context=context)
    finally:
        if not options.keep_data:
            _clean_up(pairs, data, servers, log)
    return BenchResult(
        options=options,
        fingerprint=data.fingerprint,
        generate_s=generate_s,
        loads=loads,
        results=list(context.results.values()),
        strategies=strategies,
        total_s=time.perf_counter() - started,
        load_average_start=load_average_start,
    )
