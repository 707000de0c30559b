"""Which database server and database a connection URL reaches, however the URL spells it.

Per-source limits (the run queue's ``pm/source`` tag, the command line's source slots) count runs
against one database: two URLs that reach it differently (``postgres://`` and ``postgresql://``,
``localhost`` and ``127.0.0.1``, the port written or left to its default, another ``?schema=``)
must take the same slots, or the limit protects nothing.
"""

from __future__ import annotations

from pathlib import Path

from pm_pipeline.core.connectors.base import parse_url

# Schemes that reach the same kind of server: the same server may be named by either.
_FAMILIES = {
    "postgres": "postgresql",
    "mariadb": "mysql",
    "csv": "files",
    "parquet": "files",
    "file": "files",
}
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
# Names of this machine: resolving them costs nothing and never waits for a DNS server.
_LOOPBACK = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "::1", "0:0:0:0:0:0:0:1"}


def source_identity(url: str) -> str:
    """``family://host:port/database`` for a server, ``family:///absolute/path`` for a file; no user,
    password, schema or other option (they do not change which database is read)."""
    from pm_pipeline.core.connectors import normalise_url

    parsed = parse_url(normalise_url(url))
    family = _FAMILIES.get(parsed.scheme.split("+")[0], parsed.scheme.split("+")[0])
    if family not in _DEFAULT_PORTS:
        location = parsed.path or parsed.database or ""
        return f"{family}:///{Path(location).expanduser().resolve().as_posix().lstrip('/')}"
    host = _canonical_host(parsed.query.get("host") or parsed.host)
    port = parsed.port or _port(parsed.query.get("port")) or _DEFAULT_PORTS[family]
    database = parsed.database or parsed.query.get("dbname") or ""
    if family == "postgresql" and not database:
        database = parsed.user or ""  # libpq's default database is the user's name
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
