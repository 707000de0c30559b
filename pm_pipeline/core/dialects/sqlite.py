"""SQLite's SQL dialect."""

from __future__ import annotations

from typing import ClassVar

from pm_pipeline.core.dialects.base import Dialect


class SqliteDialect(Dialect):
    name: ClassVar[str] = "sqlite"
    placeholder: ClassVar[str] = "?"

    # -- names -------------------------------------------------------------------------------

    # -- canonical text and hashes -----------------------------------------------------------

    # -- integrity and schema ----------------------------------------------------------------
    default_integer_bits = 64  # any integer is stored in up to 64 bits
    real_bits = 53

    def byte_length(self, expr: str) -> str:
        return f"length({expr})"

    dynamic_typing = True
    exact_aggregates = False  # a DECIMAL column's affinity may hand a float back
    binds_decimals = False
    sqlalchemy_url_template = "sqlite:///{path}"
    gx_data_source = "sqlite"

    def char_length(self, expr: str) -> str:
        return f"length({expr})"

    def text_cast(self, expr: str) -> str:
        return f"CAST({expr} AS TEXT)"

    def text_prefix(self, expr: str, length: int) -> str:
        return f"substr({expr}, 1, {int(length)})"

    def bytewise(self, expr: str) -> str:
        return f"({expr} COLLATE BINARY)"

    # -- rollback ----------------------------------------------------------------------------
    foreign_key_deferral: ClassVar[str] = "all"

    def restore_prelude(self, *, defer: bool) -> list[str]:
        # Every restore, cycles or not: each check waits for COMMIT, when every table is whole again.
        return ["PRAGMA defer_foreign_keys = ON"]

    # -- performance -------------------------------------------------------------------------
    reads_tables_by_index = True

    def explain(self, sql: str) -> str:
        return f"EXPLAIN QUERY PLAN {sql}"
