"""The ``integrity:`` section of a migration spec, as frozen pydantic models.

Table names in this section are target table names: every integrity check runs on the target.
SQL fragments (``check``, ``value``, ``child_value``) are written by the spec's author in the
target's dialect and run inside the target as they are; they are configuration, never user input.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from pm_pipeline.core.config.durations import parse_duration
from pm_pipeline.core.config.sections import parse_section


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RowRule(_Model):
    """A predicate every row of ``table`` must satisfy, e.g. ``quantity > 0``. NULL counts as a violation."""

    kind: Literal["row"] = "row"
    name: str = Field(min_length=1)
    table: str = Field(min_length=1)
    check: str = Field(min_length=1, description="SQL boolean expression over the table's columns")


class AggregateRule(_Model):
    """``value`` of each ``table`` row equals the sum of ``child_value`` over its child rows.

    A parent with no child rows compares with 0.
    """

    kind: Literal["aggregate"]
    name: str = Field(min_length=1)
    table: str = Field(min_length=1)
    key: list[str] = Field(min_length=1, description="the parent's key columns")
    value: str = Field(min_length=1, description="SQL expression over the parent row, e.g. subtotal")
    child_table: str = Field(min_length=1)
    child_key: list[str] = Field(min_length=1, description="child columns referencing the parent key")
    child_value: str = Field(min_length=1, description="SQL expression summed per parent")
    tolerance: float = Field(default=0.0, ge=0, description="|value - sum| <= tolerance passes")

    @model_validator(mode="after")
    def _same_width(self) -> AggregateRule:
        if len(self.key) != len(self.child_key):
            raise ValueError("'key' and 'child_key' must name the same number of columns")
        return self


def _rule_kind(value: Any) -> str:
    kind = value.get("kind", "row") if isinstance(value, dict) else getattr(value, "kind", "row")
    return str(kind)


Rule = Annotated[
    Annotated[RowRule, Tag("row")] | Annotated[AggregateRule, Tag("aggregate")],
    Discriminator(
        _rule_kind, custom_error_type="rule_kind", custom_error_message="kind must be 'row' or 'aggregate'"
    ),
]


class ForeignKeyDecl(_Model):
    """A relation the spec declares even if neither database does."""

    table: str = Field(min_length=1)
    columns: list[str] = Field(min_length=1)
    ref_table: str = Field(min_length=1)
    ref_columns: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _same_width(self) -> ForeignKeyDecl:
        if len(self.columns) != len(self.ref_columns):
            raise ValueError("'columns' and 'ref_columns' must name the same number of columns")
        return self


class TemporalRule(_Model):
    """Timestamps of one table: ``updated`` never before ``created``; none of them in the future;
    each compared with the source for a systematic shift."""

    table: str = Field(min_length=1)
    created: str | None = None
    updated: str | None = None
    columns: list[str] = Field(default_factory=list, description="more timestamp columns to check")

    @property
    def all_columns(self) -> list[str]:
        names = [name for name in (self.created, self.updated) if name]
        return names + [name for name in self.columns if name not in names]

    @model_validator(mode="after")
    def _some_column(self) -> TemporalRule:
        if not self.all_columns:
            raise ValueError("name at least one of 'created', 'updated' or 'columns'")
        return self


class Expectation(_Model):
    """One Great Expectations expectation: its snake_case type and its keyword arguments."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str = Field(pattern=r"^expect_[a-z0-9_]+$")

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class GxSettings(_Model):
    enabled: bool = True
    generate: bool = Field(default=True, description="add expectations derived from the source's profile")
    value_set_max: int = Field(
        default=20, ge=1, description="columns with at most this many values get a value set"
    )
    result_format: Literal["BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE"] = "SUMMARY"


class IntegritySettings(_Model):
    rules: list[Rule] = Field(default_factory=list)
    foreign_keys: list[ForeignKeyDecl] = Field(default_factory=list)
    temporal: list[TemporalRule] = Field(default_factory=list)
    cutover_at: dt.datetime | None = Field(default=None, description="no timestamp may be later; naive = UTC")
    future_skew: str = Field(default="5m", description="without cutover_at: no timestamp after now + this")
    shift_sample: int = Field(default=1000, ge=10, description="keys compared with the source for a shift")
    expectations: dict[str, list[Expectation]] = Field(default_factory=dict)
    gx: GxSettings = Field(default_factory=GxSettings)
    checksums: bool = True
    # Accepted for older specs: sequences are judged once, by the schema comparison, integrity on or off.
    sequences: bool = True

    @field_validator("future_skew")
    @classmethod
    def _skew(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def future_skew_delta(self) -> dt.timedelta:
        return parse_duration(self.future_skew)

    def latest_allowed(self, now: dt.datetime | None = None) -> dt.datetime:
        """The latest instant a timestamp may hold (aware, UTC)."""
        if self.cutover_at is not None:
            at = self.cutover_at
            return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)
        return (now or dt.datetime.now(dt.UTC)) + self.future_skew_delta

    def rules_for(self, table: str) -> list[RowRule | AggregateRule]:
        return [rule for rule in self.rules if rule.table == table]

    def foreign_keys_for(self, table: str) -> list[ForeignKeyDecl]:
        return [fk for fk in self.foreign_keys if fk.table == table]

    def temporal_for(self, table: str) -> list[TemporalRule]:
        return [rule for rule in self.temporal if rule.table == table]


def parse_integrity(data: Any, *, file: str = "<spec>") -> IntegritySettings:
    """Validate the spec's ``integrity`` section; a problem raises SpecError naming its key path."""
    # A discriminated union adds the tag ('row', 'aggregate') to an error's location.
    return parse_section(IntegritySettings, data, file=file, section="integrity", tags=("row", "aggregate"))
