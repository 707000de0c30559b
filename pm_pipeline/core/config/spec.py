# Over 300 lines: the spec's models cross-reference each other and validate as one document.
"""The migration spec: one YAML document describing one migration, as frozen pydantic models.

Unknown keys are errors everywhere (``extra="forbid"``) so a misspelled option never silently
does nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from pm_pipeline.core.config.audit import AuditSettings, parse_audit
from pm_pipeline.core.config.compliance import ComplianceSettings, parse_compliance
from pm_pipeline.core.config.durations import parse_duration
from pm_pipeline.core.config.integrity import IntegritySettings, parse_integrity
from pm_pipeline.core.config.monitoring import MonitoringSettings, parse_monitoring
from pm_pipeline.core.config.performance import PerformanceSettings
from pm_pipeline.core.config.protection import DEFAULT_READ_LIMITS, ReadLimits
from pm_pipeline.core.config.rollback import RollbackSettings, parse_rollback
from pm_pipeline.core.config.timeouts import TimeoutSettings, parse_seconds
from pm_pipeline.core.dialects import canonical_engine


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Classification(StrEnum):
    """Sensitivity of a column's values, lowest first. A reader sees values at or below clearance."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"

    @property
    def rank(self) -> int:
        return list(Classification).index(self)


_OWNER = re.compile(r"team:[A-Za-z0-9_.-]+|[^@\s]+@[^@\s]+\.[^@\s]+")


def _check_zone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"expected an IANA time zone such as 'UTC' or 'Europe/Paris', got {value!r}"
        ) from exc
    return value


class ColumnRule(_Model):
    """How one column is compared. Every option is off unless the spec turns it on."""

    abs_tolerance: float | None = Field(default=None, ge=0, description="numeric: |a-b| <= this is equal")
    rel_tolerance: float | None = Field(
        default=None, ge=0, description="numeric: |a-b| <= this * max(|a|,|b|) is equal"
    )
    trim: bool = Field(default=False, description="text: ignore leading and trailing white space")
    case_insensitive: bool = Field(default=False, description="text: compare case-folded")
    unicode_nfc: bool = Field(default=False, description="text: compare after Unicode NFC normalisation")
    null_equals_empty: bool = Field(default=False, description="text: NULL and '' are equal")
    timestamp_tolerance: str | None = Field(default=None, description="temporal: e.g. '1s', '500ms'")
    timestamp_precision: Literal["s", "ms", "us"] | None = Field(
        default=None, description="temporal: declared precision; both sides are truncated to it"
    )
    source_timezone: str | None = Field(default=None, description="zone of naive source timestamps")
    target_timezone: str | None = Field(default=None, description="zone of naive target timestamps")
    value_map: dict[str, Any] | None = Field(
        default=None, description="source value (as text) -> the value the target should hold"
    )
    boolean: bool = Field(default=False, description="compare as booleans (0/1, 'Y'/'N', 't'/'f', ...)")
    zero_date: Literal["null", "strict"] | None = Field(
        default=None,
        description="zero dates ('0000-00-00'): by default equal to NULL where a column can hold them "
        "(MariaDB/MySQL dates, text); 'strict' keeps them a difference; 'null' on any date column",
    )
    as_json: bool = Field(default=False, alias="json", description="compare as parsed JSON (key order free)")
    list_separator: str | None = Field(
        default=None,
        min_length=1,
        description="text holding a delimited list ('a,b'): compared element by element with arrays and SETs",
    )
    list_order: Literal["ordered", "unordered"] | None = Field(
        default=None,
        description="lists and sets: 'unordered' ignores order and duplicates; default: unordered when "
        "either side is a MySQL SET, else ordered",
    )
    classification: Classification | None = None
    tolerated: bool = Field(default=False, description="differences in this column are warnings, not errors")

    @field_validator("source_timezone", "target_timezone")
    @classmethod
    def _zones(cls, value: str | None) -> str | None:
        return _check_zone(value)

    @field_validator("timestamp_tolerance")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _list_options(self) -> ColumnRule:
        if self.list_separator is not None and (self.as_json or self.boolean):
            raise ValueError(
                "'list_separator' declares a list: it cannot be combined with 'json' or 'boolean'"
            )
        return self

    @property
    def timestamp_tolerance_delta(self) -> dt.timedelta | None:
        return None if self.timestamp_tolerance is None else parse_duration(self.timestamp_tolerance)


Strategy = Literal["auto", "arrow", "pushdown", "bucket"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)  # how a table is reconciled; see reconcile.choice
MAX_PARTITIONS = 1024


class TableMapping(_Model):
    """One source table compared with one target table."""

    source: str = Field(min_length=1)
    target: str | None = Field(default=None, description="defaults to the source name")
    key: list[str] | None = Field(
        default=None, description="key columns (source names); default: the source's primary key"
    )
    renames: dict[str, str] = Field(default_factory=dict, description="source column -> target column")
    ignore: list[str] = Field(default_factory=list, description="source columns left out of the comparison")
    columns: dict[str, ColumnRule] = Field(default_factory=dict, description="per source column rules")
    where: str | None = Field(default=None, description="reserved: row filter applied on both sides")
    strategy: Strategy = "auto"
    partitions: int | None = Field(
        default=None,
        description="reconcile in this many key-hash buckets: a partitioned Dagster asset, one bucket per partition",
    )
    updated_at: str | None = Field(default=None, description="column the drift sensor watches")

    @property
    def target_name(self) -> str:
        return self.target or self.source

    @field_validator("partitions", mode="before")
    @classmethod
    def _bucket_count(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= MAX_PARTITIONS:
            raise ValueError(
                f"expected a whole number of key-hash buckets from 2 to {MAX_PARTITIONS}, got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _no_filter_yet(self) -> TableMapping:
        if self.where is not None:
            raise ValueError("'where' is not supported yet; compare whole tables")
        return self


class Thresholds(_Model):
    """Above these, a reconciliation check fails (ERROR, blocking); at or below, it passes."""

    max_missing_rows: int = Field(default=0, ge=0)
    max_extra_rows: int = Field(default=0, ge=0)
    max_duplicate_keys: int = Field(default=0, ge=0)
    max_changed_rows: int = Field(default=0, ge=0)
    min_match_score: float = Field(default=1.0, ge=0, le=1)
    tolerated_categories: list[str] = Field(
        default_factory=list, description="finding categories reported as warnings instead of errors"
    )


class Endpoint(_Model):
    url: str = Field(min_length=1, description="connection URL; secrets as ${ENV_VAR}")
    timezone: str | None = Field(default=None, description="zone in which naive timestamps were written")
    schema_name: str | None = Field(default=None, alias="schema", description="schema/database to look in")
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings, description="connect, statement, idle")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return _check_zone(value)


def _engine(url: str) -> str:
    """The engine a URL's scheme names (a server's aliases included), else the scheme itself."""
    scheme = url.partition("://")[0].split("+", 1)[0].lower() if "://" in url else ""
    return canonical_engine(scheme, formats=False) or scheme


class SourceEndpoint(Endpoint):
    """The migration's source: every session on it is read-only, and these limits protect it."""

    replica_url: str | None = Field(
        default=None,
        min_length=1,
        description="a replica holding the same data: rows, aggregates and introspection are read there",
    )
    max_rows_per_second: float | None = Field(
        default=None, description="pace of the rows streamed out of the source (none by default)"
    )
    max_readers: int = Field(
        default=DEFAULT_READ_LIMITS.max_readers,
        description="readers of the source at once (a check or a Dagster partition is one), across processes",
    )
    readers_wait: float = Field(
        default=DEFAULT_READ_LIMITS.readers_wait,
        description="how long a reader past max_readers waits before it is refused",
    )

    @field_validator("max_rows_per_second", mode="before")
    @classmethod
    def _pace(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"expected a number of rows per second above 0, got {value!r}")
        return float(value)

    @field_validator("max_readers", mode="before")
    @classmethod
    def _readers(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"expected a whole number of readers, at least 1, got {value!r}")
        return value

    @field_validator("readers_wait", mode="before")
    @classmethod
    def _wait(cls, value: Any) -> float:
        return parse_seconds(value)

    @model_validator(mode="after")
    def _same_engine(self) -> SourceEndpoint:
        if self.replica_url is not None and _engine(self.replica_url) != _engine(self.url):
            raise ValueError(
                f"replica_url is a {_engine(self.replica_url) or 'schemeless'} URL but url is "
                f"{_engine(self.url) or 'schemeless'}: a replica holds the same database"
            )
        return self

    def read_limits(self) -> ReadLimits:
        return ReadLimits(
            rows_per_second=self.max_rows_per_second,
            max_readers=self.max_readers,
            readers_wait=self.readers_wait,
        )


class ReportSettings(_Model):
    directory: str = "reports"
    clearance: Classification = Classification.INTERNAL
    sample_limit: int = Field(default=1000, ge=1, description="findings shown inline; the rest go to files")
    # One report set per audience, each masked at its own level; empty: one set at ``clearance``.
    audiences: tuple[Classification, ...] = ()

    @field_validator("audiences")
    @classmethod
    def _distinct(cls, value: tuple[Classification, ...]) -> tuple[Classification, ...]:
        repeated = sorted({str(a) for a in value if value.count(a) > 1})
        if repeated:
            raise ValueError(f"each audience once; repeated: {', '.join(repeated)}")
        return tuple(sorted(value, key=lambda audience: audience.rank))


class MigrationSpec(_Model):
    """A whole migration: where the data came from, where it went, how to compare it."""

    version: Literal[1] = 1
    name: str = Field(default="migration", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    source: SourceEndpoint
    target: Endpoint
    tables: list[TableMapping] = Field(default_factory=list)
    discover: bool = Field(default=False, description="also compare tables present on both sides by name")
    owners: list[str] = Field(
        default_factory=list,
        description="who answers for the migration's assets: e-mail addresses or team:<name>",
    )
    thresholds: Thresholds = Field(default_factory=Thresholds)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    # Parsed once, here; a problem names the file (the loader's validation context) and key path.
    integrity: IntegritySettings = Field(default_factory=IntegritySettings)
    rollback: RollbackSettings | None = None  # None: no rollback section (see ``rollback_settings``)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    compliance: ComplianceSettings | None = None  # None: no compliance section in the evidence pack
    performance: PerformanceSettings | None = Field(
        default=None, description="a query workload timed and explained on both sides"
    )

    @model_validator(mode="after")
    def _tables_unique(self) -> MigrationSpec:
        seen: set[str] = set()
        for mapping in self.tables:
            if mapping.source in seen:
                raise ValueError(f"table {mapping.source!r} is mapped twice")
            seen.add(mapping.source)
        if not self.tables and not self.discover and self.performance is None:
            raise ValueError("no tables: list them under 'tables' or set 'discover: true'")
        return self

    @field_validator("integrity", "rollback", "monitoring", "audit", "compliance", mode="before")
    @classmethod
    def _section(cls, value: Any, info: ValidationInfo) -> Any:
        file = str((info.context or {}).get("file", "<spec>"))
        if info.field_name == "rollback":
            return None if value is None or value == {} else parse_rollback(value, file=file)
        if info.field_name == "compliance":
            return parse_compliance(value, file=file)  # ``{}``: every built-in framework
        parse = {"integrity": parse_integrity, "monitoring": parse_monitoring, "audit": parse_audit}
        return parse[str(info.field_name)](value, file=file)

    @property
    def rollback_settings(self) -> RollbackSettings:
        """The rollback section, or its defaults when the spec has none."""
        return self.rollback or RollbackSettings()

    @field_validator("source", mode="before")
    @classmethod
    def _as_source(cls, value: Any) -> Any:
        # A plain endpoint given as the source (code building a spec) gets the source's defaults.
        if isinstance(value, Endpoint) and not isinstance(value, SourceEndpoint):
            return value.model_dump(by_alias=True)
        return value

    @field_validator("owners")
    @classmethod
    def _owners(cls, value: list[str]) -> list[str]:
        for owner in value:
            if not _OWNER.fullmatch(owner):
                raise ValueError(f"owner {owner!r} is neither an e-mail address nor team:<name>")
        return value

    def mapping_for(self, source_table: str) -> TableMapping:
        for mapping in self.tables:
            if mapping.source == source_table:
                return mapping
        raise KeyError(source_table)
