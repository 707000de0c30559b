"""Parquet and CSV files, read through DuckDB: DuckDB's SQL dialect."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from pm_pipeline.core.dialects.duckdb import DuckDbDialect


class FilesDialect(DuckDbDialect):
    name: ClassVar[str] = "files"

    # -- canonical text and hashes -----------------------------------------------------------
    def record_hash(self, alias: str, columns: Callable[[], Sequence[str]]) -> str | None:
        return None  # a table of files is fingerprinted by its row count only

    # -- integrity and schema ----------------------------------------------------------------
    default_fractional_digits = None
    unsized_float_bits = 53

    # -- rollback ----------------------------------------------------------------------------
    # Files are never restored into (their connector refuses to write); a plan for them is
    # built as for any engine without DuckDB's single-writer and foreign-key quirks.
    reads_beside_a_writer = True
    checks_deleted_children = False
