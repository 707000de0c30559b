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

from pm_pipeline.bench import baselines, generate, measure, peers, tools
from pm_pipeline.bench.generate import DataSet
from pm_pipeline.bench.load import Server
from pm_pipeline.bench.pairs import PAIR_NAMES, Pair, Servers, build_pairs, load_steps, needs_csv
from pm_pipeline.bench.score import Score, Truth, load_truth, score
from pm_pipeline.core.errors import BadInputError, ConnectionFailure

Log = Callable[[str], None]


@dataclass(frozen=True)
class BenchOptions:
    rows: int = 1_000_000
    seed: int = 1
    rate: float = 0.0001
    pairs: tuple[str, ...] = PAIR_NAMES
    tools: tuple[str, ...] = tools.TOOL_NAMES
    strategies: tuple[str, ...] | None = None  # None: every strategy `pm-pipeline check` offers
    check_args: tuple[str, ...] = ()  # more options for every `pm-pipeline check` run
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
    strategies: tuple[str | None, ...]
    total_s: float
    load_average_start: str = ""  # the machine is shared: how busy it was when the run began


def resolve_strategies(
    requested: tuple[str, ...] | None, offered: tuple[str, ...] | None
) -> tuple[str | None, ...]:
    """Which ``--strategy`` values to run pm-pipeline with; (None,) runs it without the option."""
    if offered is None:
        if requested:
            raise BadInputError("bench: --strategies given, but `pm-pipeline check` has no --strategy option")
        return (None,)
    if not requested:
        if not offered:
            raise BadInputError(
                "bench: cannot read the --strategy choices from `pm-pipeline check --help`; pass --strategies"
            )
        return offered
    unknown = [name for name in requested if offered and name not in offered]
    if unknown:
        raise BadInputError(
            f"bench: unknown strategy {', '.join(unknown)}; pm-pipeline offers {', '.join(offered)}"
        )
    return requested


def _prepare_data(options: BenchOptions, pairs: Sequence[Pair], log: Log) -> tuple[DataSet, float | None]:
    data = DataSet(options.work_dir / "data" / str(options.rows), options.rows, options.seed, options.rate)
    started = time.perf_counter()
    if generate.is_complete(data):
        log(f"data set {data.fingerprint}: reused from {data.directory}")
        spent = None
    else:
        data = generate.generate(
            directory=data.directory, rows=options.rows, seed=options.seed, rate=options.rate, csv=False
        )
        spent = time.perf_counter() - started
    if needs_csv(pairs) and not (data.source_csv.exists() and data.target_csv.exists()):
        generate.write_csv(data)
        spent = time.perf_counter() - started
    if spent is not None:
        log(f"data set {data.fingerprint}: generated in {spent:.1f} s")
    return data, spent


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
                f"bench: loading {step.label} failed: {message} (choose pairs with --pairs)"
            ) from exc
        log(f"load {step.label}: {loads[step.label]:.1f} s")
    return loads


@dataclass(frozen=True)
class _Context:
    options: BenchOptions
    strategies: tuple[str | None, ...]
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
        )
    ]
    for call in calls:
        key = (pair.name, call.tool)
        result = context.results.setdefault(
            key, ToolResult(call.tool, call.family, pair.name, pair.label, context.options.rows)
        )
        if result.error is not None:
            continue
        call.output.unlink(missing_ok=True)
        measured = measure.run_measured(call.command, env=call.env, timeout_s=context.options.timeout_s)
        try:
            reported = call.read(measured, call.output)
        except tools.ToolFailed as failure:
            result.error = str(failure)
            context.log(f"{pair.label} {call.tool}: FAILED: {failure}")
            continue
        result.walls_s.append(measured.wall_s)
        result.peak_rss_mb = max(result.peak_rss_mb, measured.peak_rss_mb)
        if reported is not None:
            result.scores.append(score(reported, context.truth))
        context.log(f"{pair.label} {call.tool}: {measured.wall_s:.2f} s, {measured.peak_rss_mb:.0f} MB")


def run_bench(options: BenchOptions, *, log: Log) -> BenchResult:
    started = time.perf_counter()
    load_average_start = " ".join(f"{value:.2f}" for value in os.getloadavg())
    servers = Servers(
        postgres=Server.parse(options.postgres, default_port=5432),
        mariadb=Server.parse(options.mariadb, default_port=3306),
    )
    data_dir = options.work_dir / "data" / str(options.rows)
    pairs = build_pairs(options.pairs, servers=servers, data_dir=data_dir)
    families = [name for name in tools.TOOL_NAMES if name in options.tools]
    executables = {tools.OURS: tools.pm_pipeline_executable()}
    strategies: tuple[str | None, ...] = (None,)
    if tools.OURS in families:
        strategies = resolve_strategies(options.strategies, tools.offered_strategies(executables[tools.OURS]))
    for name, peer in peers.PEERS.items():
        if name in families and any(tools.supports(name, pair) for pair in pairs):
            executables[name] = peers.ensure_peer(peer, venvs=options.work_dir / "venvs")
    data, generate_s = _prepare_data(options, pairs, log)
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
    if not options.keep_data:
        for step in load_steps(pairs, data=data, servers=servers):
            step.drop()
        shutil.rmtree(data.directory, ignore_errors=True)
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
