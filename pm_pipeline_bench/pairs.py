"""The benchmarked source -> target pairs, where their data lives, and loading or reusing it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pm_pipeline_bench import load
from pm_pipeline_bench.generate import DataSet
from pm_pipeline_bench.load import Server

PG_SOURCE_DB = "pm_bench_src"
PG_TARGET_DB = "pm_bench_tgt"
MY_SOURCE_DB = "pm_bench_src"
PAIR_NAMES = ("pg-pg", "mariadb-pg", "duckdb-duckdb")
_ENGINE_LABELS = {"postgresql": "PostgreSQL", "mysql": "MariaDB", "duckdb": "DuckDB"}


@dataclass(frozen=True)
class Store:
    """One side's database: its engine, the URL every tool is given, and the DuckDB file if any."""

    engine: str  # postgresql | mysql | duckdb
    url: str
    path: Path | None = None

    @property
    def label(self) -> str:
        return _ENGINE_LABELS[self.engine]


@dataclass(frozen=True)
class Pair:
    name: str
    source: Store
    target: Store

    @property
    def label(self) -> str:
        return f"{self.source.label}->{self.target.label}"

    @property
    def stores(self) -> tuple[Store, Store]:
        return self.source, self.target


@dataclass(frozen=True)
class Servers:
    postgres: Server
    mariadb: Server


def build_pairs(names: Sequence[str], *, servers: Servers, data_dir: Path) -> list[Pair]:
    pg_target = Store("postgresql", servers.postgres.url(PG_TARGET_DB))
    known = {
        "pg-pg": Pair("pg-pg", Store("postgresql", servers.postgres.url(PG_SOURCE_DB)), pg_target),
        "mariadb-pg": Pair("mariadb-pg", Store("mysql", servers.mariadb.url(MY_SOURCE_DB)), pg_target),
        "duckdb-duckdb": Pair(
            "duckdb-duckdb",
            _duck_store(data_dir / "source.duckdb"),
            _duck_store(data_dir / "target.duckdb"),
        ),
    }
    return [known[name] for name in names]


def _duck_store(path: Path) -> Store:
    absolute = path.resolve()
    return Store("duckdb", f"duckdb:///{absolute}", absolute)


@dataclass(frozen=True)
class LoadStep:
    """How one store is filled, and how to tell it already holds the data."""

    label: str
    current: Callable[[], str | None]
    fill: Callable[[], float]
    drop: Callable[[], None]


def load_steps(pairs: Sequence[Pair], *, data: DataSet, servers: Servers) -> list[LoadStep]:
    """One step per distinct store of ``pairs`` (the PostgreSQL target is shared)."""
    steps: dict[str, LoadStep] = {}
    for pair in pairs:
        for store, side in ((pair.source, "source"), (pair.target, "target")):
            if store.url not in steps:
                steps[store.url] = _step(store, side=side, data=data, servers=servers)
    return list(steps.values())


def _step(store: Store, *, side: str, data: DataSet, servers: Servers) -> LoadStep:
    csv = data.source_csv if side == "source" else data.target_csv
    parquet = data.source_parquet if side == "source" else data.target_parquet
    fingerprint = data.fingerprint
    if store.engine == "postgresql":
        database = PG_SOURCE_DB if side == "source" else PG_TARGET_DB
        pg = servers.postgres
        return LoadStep(
            f"PostgreSQL {database}",
            lambda: load.postgres_fingerprint(pg, database),
            lambda: load.load_postgres(pg, database, csv=csv, parquet=parquet, fingerprint=fingerprint),
            lambda: load.drop_postgres(pg, database),
        )
    if store.engine == "mysql":
        my = servers.mariadb
        return LoadStep(
            f"MariaDB {MY_SOURCE_DB}",
            lambda: load.mariadb_fingerprint(my, MY_SOURCE_DB),
            lambda: load.load_mariadb(my, MY_SOURCE_DB, csv=csv, parquet=parquet, fingerprint=fingerprint),
            lambda: load.drop_mariadb(my, MY_SOURCE_DB),
        )
    path = store.path
    assert path is not None
    return LoadStep(
        f"DuckDB {path.name}",
        lambda: load.duckdb_fingerprint(path),
        lambda: load.load_duckdb(path, parquet=parquet, fingerprint=fingerprint),
        lambda: path.unlink(missing_ok=True),
    )


def needs_csv(pairs: Sequence[Pair]) -> bool:
    return any(store.engine != "duckdb" for pair in pairs for store in pair.stores)
