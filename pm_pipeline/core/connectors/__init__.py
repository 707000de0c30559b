"""Engine connectors, one small module per engine, picked by URL scheme."""

from __future__ import annotations

import contextlib
import importlib
import re
from typing import TYPE_CHECKING

from pm_pipeline.core.connectors.base import (
    DEFAULT_TIMEOUTS,
    ConnectionUrl,
    Connector,
    Timeouts,
    parse_url,
)
from pm_pipeline.core.connectors.schema import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Sequence,
    TableSchema,
    TypeFamily,
    UniqueConstraint,
)
from pm_pipeline.core.errors import UnknownSchemeError
from pm_pipeline.core.security.masking import mask_url

if TYPE_CHECKING:
    from pm_pipeline.core.config.spec import Endpoint

# scheme -> "module:Class"; modules are imported only when a URL of theirs is opened, so a
# missing driver for one engine never breaks the others.
_REGISTRY: dict[str, str] = {
    "postgresql": "pm_pipeline.core.connectors.postgres:PostgresConnector",
    "postgres": "pm_pipeline.core.connectors.postgres:PostgresConnector",
    "mysql": "pm_pipeline.core.connectors.mysql:MySqlConnector",
    "mariadb": "pm_pipeline.core.connectors.mysql:MySqlConnector",
    "duckdb": "pm_pipeline.core.connectors.duckdb:DuckDbConnector",
    "sqlite": "pm_pipeline.core.connectors.sqlite:SqliteConnector",
    "parquet": "pm_pipeline.core.connectors.files:FilesConnector",
    "csv": "pm_pipeline.core.connectors.files:FilesConnector",
    "file": "pm_pipeline.core.connectors.files:FilesConnector",
}

_BARE_FILE = re.compile(r"^[^:]*\.(parquet|csv)$|^[^:]*[*?][^:]*$", re.IGNORECASE)


def supported_schemes() -> list[str]:
    return sorted(_REGISTRY)


def normalise_url(url: str) -> str:
    """Accept a bare Parquet/CSV path or glob as a files URL."""
    if "://" not in url and _BARE_FILE.match(url):
        kind = "csv" if url.lower().endswith(".csv") else "parquet"
        return f"{kind}:///{url}"
    return url


def connect(url: str, *, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> Connector:
    """Open a connector for ``url`` that waits at most ``timeouts``. Raises UnknownSchemeError,
    BadInputError or ConnectionFailure."""
    parsed = parse_url(normalise_url(url))
    target = _REGISTRY.get(parsed.scheme)
    if target is None:
        raise UnknownSchemeError(
            f"connection URL {mask_url(url)}: unknown scheme {parsed.scheme or '(none)'!r}; "
            f"supported: {', '.join(supported_schemes())}"
        )
    module_name, class_name = target.split(":")
    cls: type[Connector] = getattr(importlib.import_module(module_name), class_name)
    return cls(parsed, timeouts=timeouts)


def open_endpoint(endpoint: Endpoint) -> Connector:
    """Open a connector for a spec's source or target, with its timeouts. The source's connector
    reads its replica when it names one, holds one of its reader slots until closed (waiting for
    one, then refused with SystemFailure), paces its streams and refuses to write."""
    from pm_pipeline.core.config.spec import SourceEndpoint
    from pm_pipeline.core.connectors.limits import reader_slot
    from pm_pipeline.core.security.tenants import source_tag

    if not isinstance(endpoint, SourceEndpoint):
        return connect(endpoint.url, timeouts=endpoint.timeouts.limits())
    limits = endpoint.read_limits()
    with contextlib.ExitStack() as slot:
        slot.enter_context(reader_slot(source_tag(endpoint.url), limits))
        connector = connect(endpoint.replica_url or endpoint.url, timeouts=endpoint.timeouts.limits())
        connector.protect_as_source(limits, release=slot.pop_all())
    return connector


__all__ = [
    "CheckConstraint",
    "Column",
    "ConnectionUrl",
    "Connector",
    "ForeignKey",
    "Index",
    "Sequence",
    "TableSchema",
    "Timeouts",
    "TypeFamily",
    "UniqueConstraint",
    "connect",
    "normalise_url",
    "open_endpoint",
    "parse_url",
    "supported_schemes",
]
