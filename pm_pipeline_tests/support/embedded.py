"""Filling an embedded database (SQLite, DuckDB) through its own driver, outside the product."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Setup = Callable[..., None]


def in_process(module: Any, path: Path) -> Setup:
    """A function that runs its statements, in order and committed, in the database file ``path``
    opened with ``module`` (``sqlite3`` or ``duckdb``)."""

    def run(*statements: str) -> None:
        conn = module.connect(str(path))
        try:
            for statement in statements:
                conn.execute(statement)
            conn.commit()
        finally:
            conn.close()

    return run
