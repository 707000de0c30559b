"""Which database server and database a connection URL reaches, however the URL spells it.

Per-source limits (the run queue's ``pm/source`` tag, the command line's source slots) count runs
against one database: two URLs that reach it differently (``postgres://`` and ``postgresql://``,
``localhost`` and ``127.0.0.1``, the port written or left to its default, another ``?schema=``)
must take the same slots, or the limit protects nothing.
"""

from __future__ import annotations

from pathlib import Path

from pm_pipeline.core.connectors.base import parse_url
from pm_pipeline.core.dialects import canonical_engine, dialect_for

# Names of this machine: resolving them costs nothing and never waits for a DNS server.
_LOOPBACK = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "::1", "0:0:0:0:0:0:0:1"}


def source_identity(url: str) -> str:
    """``family://host:port/database`` for a server, ``family:///absolute/path`` for a file; no user,
    password, schema or other option (they do not change which database is read)."""
    from pm_pipeline.core.connectors import normalise_url

    parsed = parse_url(normalise_url(url))
    scheme = parsed.scheme.split("+")[0]
    # Schemes that reach the same kind of server (postgres://, postgresql://) name one family.
    engine = canonical_engine(scheme)
    family = engine or scheme
    dialect = dialect_for(engine) if engine else None
    if dialect is None or dialect.default_port is None:
        location = parsed.path or parsed.database or ""
        return f"{family}:///{Path(location).expanduser().resolve().as_posix().lstrip('/')}"
    host = _canonical_host(parsed.query.get("host") or parsed.host)
    port = parsed.port or _port(parsed.query.get("port")) or dialect.default_port
    database = parsed.database or parsed.query.get("dbname") or ""
    if dialect.database_defaults_to_user and not database:
        database = parsed.user or ""
    return f"{family}://{host}:{port}/{database}"


def _canonical_host(host: str | None) -> str:
    # No host, or a Unix socket folder, is a server on this machine, as are the loopback addresses.
    if not host or host.startswith("/"):
        return "localhost"
    name = host.strip("[]").lower().rstrip(".")
    if name in _LOOPBACK or name.startswith("127.") or name.startswith("::ffff:127."):
        return "localhost"
    return name


def _port(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None
