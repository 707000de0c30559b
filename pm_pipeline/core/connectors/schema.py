"""What a connector tells about a table: columns with their types, keys, constraints, indexes, sequences."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class TypeFamily(StrEnum):
    """Engine-independent kind of a column; canonicalisation and type mapping are keyed by it."""

    INTEGER = "integer"
    DECIMAL = "decimal"
    FLOAT = "float"
    TEXT = "text"
    BOOLEAN = "boolean"
    DATE = "date"
    TIME = "time"
    TIMESTAMP = "timestamp"  # naive (no time zone)
    TIMESTAMPTZ = "timestamptz"  # an instant (time zone aware)
    INTERVAL = "interval"
    JSON = "json"
    BINARY = "binary"
    UUID = "uuid"
    ENUM = "enum"
    SET = "set"
    OTHER = "other"


@dataclass(frozen=True)
class Column:
    """One column as the engine declares it.

    ``data_type`` is the engine's own spelling (``numeric(12,2)``, ``tinyint(1)``); the other fields
    are its parsed meaning. ``precision`` is the numeric precision, the integer width in bits, or the
    fractional-second digits of a temporal type; ``length`` the maximum characters or bytes.
    """

    name: str
    data_type: str
    family: TypeFamily
    nullable: bool = True
    default: str | None = None
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    unsigned: bool = False
    enum_values: tuple[str, ...] | None = None
    identity: bool = False  # auto-increment / identity / serial
    zero_dates: bool = False  # can hold zero dates ('0000-00-00'): MariaDB/MySQL dates, SQLite dates (text)
    # The element of a one-dimensional array or list column (PostgreSQL ``text[]``, DuckDB
    # ``INTEGER[]``, an Arrow list). Such a column keeps the family OTHER for the schema checks;
    # reconciliation compares it in the SET family, element by element.
    element: Column | None = None


@dataclass(frozen=True)
class ForeignKey:
    name: str | None
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class UniqueConstraint:
    name: str | None
    columns: tuple[str, ...]


@dataclass(frozen=True)
class CheckConstraint:
    name: str | None
    expression: str


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool = False
    # The engine's own definition when the columns do not say it all: a partial index's predicate,
    # an expression key. An index rebuilt from its columns alone would be another index (stricter,
    # for a unique one).
    definition: str | None = None


@dataclass(frozen=True)
class Sequence:
    """A sequence or identity/auto-increment counter and the next value it would hand out."""

    name: str
    column: str | None
    next_value: int | None


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    unique_constraints: tuple[UniqueConstraint, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    check_constraints: tuple[CheckConstraint, ...] = ()
    indexes: tuple[Index, ...] = ()
    sequences: tuple[Sequence, ...] = ()
    row_count_estimate: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(col.name for col in self.columns)

    def unique_keys(self) -> tuple[tuple[str, ...], ...]:
        """Column sets the database holds to one row per value: the primary key, and unique
        constraints on NOT NULL columns (UNIQUE lets NULL repeat). Unique indexes count where the
        connector reports them as constraints (whole-table ones; a partial index guarantees less)."""
        nullable = {column.name for column in self.columns if column.nullable}
        keys = [self.primary_key] if self.primary_key else []
        keys += [u.columns for u in self.unique_constraints if u.columns and not nullable & set(u.columns)]
        return tuple(keys)
