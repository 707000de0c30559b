"""One connection-free SQL dialect per engine: the only place, with ``connectors/``, that names one.

A :class:`~pm_pipeline.core.dialects.base.Dialect` knows how its engine spells things (quoting,
qualified names, the canonical text of each type family, row and bucket hashes, restore
statements, plan and statistics queries) without a connection, so it can be used and tested on
its own. Every connector carries its dialect (``Connector.dialect``); code that only has an engine
name (a stored snapshot, a spec) asks :func:`dialect_for`.

Adding an engine: one connector module in ``connectors/``, one dialect module here, registered in
``_DIALECTS`` below, and their tests.
"""

from __future__ import annotations

import importlib

from pm_pipeline.core.dialects.base import Dialect

__all__ = ["ENGINES", "Dialect", "canonical_engine", "dialect_for"]

# engine name -> "module:Class"; the names every connector sets as its ``engine``
_DIALECTS: dict[str, str] = {
    "postgresql": "pm_pipeline.core.dialects.postgres:PostgresDialect",
    "mysql": "pm_pipeline.core.dialects.mysql:MySqlDialect",
    "duckdb": "pm_pipeline.core.dialects.duckdb:DuckDbDialect",
    "sqlite": "pm_pipeline.core.dialects.sqlite:SqliteDialect",
    "files": "pm_pipeline.core.dialects.files:FilesDialect",
}
ENGINES: tuple[str, ...] = tuple(_DIALECTS)
# other spellings of an engine (URL schemes, product names) -> its engine name
_ALIASES = {
    "postgres": "postgresql",
    "mariadb": "mysql",
    "parquet": "files",
    "csv": "files",
    "file": "files",
}
_LOADED: dict[str, Dialect] = {}


def canonical_engine(name: str | None, *, formats: bool = True) -> str | None:
    """The engine a name (engine, URL scheme or alias, any case) stands for, or None. With
    ``formats=False`` a file format (parquet, csv) stays itself: two formats are not one source."""
    if not name:
        return None
    key = name.strip().lower()
    if not formats and _ALIASES.get(key) == "files":
        return None
    key = _ALIASES.get(key, key)
    return key if key in _DIALECTS else None


def dialect_for(engine: str) -> Dialect:
    """The dialect of an engine (or one of its aliases); KeyError for an unknown engine."""
    name = canonical_engine(engine)
    if name is None:
        raise KeyError(f"no SQL dialect for engine {engine!r}")
    dialect = _LOADED.get(name)
    if dialect is None:
        module, cls = _DIALECTS[name].split(":")
        dialect = _LOADED[name] = getattr(importlib.import_module(module), cls)()
    return dialect
