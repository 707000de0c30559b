"""The installation's own redaction key: random, created once, readable by its owner only.

Keyed hashes of classified values are only as secret as their key. A key derived from anything a
reader can see (the spec, the connection URLs) lets them hash every likely value (an SSN, a birth
date) and read the hidden ones back, so without PM_REDACTION_KEY the key is random bytes kept in
one file per installation; the same file serves every run, so hashes stay comparable across runs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from pm_pipeline.core.errors import BadInputError, SystemFailure

KEY_FILE_NAME = "redaction.key"
_KEY_BYTES = 32


def installation_key_path() -> Path:
    """Under DAGSTER_HOME when set (every process of one Dagster instance shares it, so their step
    outputs join), else under $XDG_CONFIG_HOME (default ~/.config), in ``pm-pipeline/``."""
    dagster_home = os.environ.get("DAGSTER_HOME")
    if dagster_home:
        return Path(dagster_home).expanduser() / "pm-pipeline" / KEY_FILE_NAME
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(config_home) / "pm-pipeline" / KEY_FILE_NAME


def installation_key(*, path: Path | None = None) -> bytes:
    """The key in ``path`` (default :func:`installation_key_path`), created with mode 0600 if absent."""
    file = path or installation_key_path()
    if not file.exists():
        _create(file)
    try:
        mode = file.stat().st_mode
        key = bytes.fromhex(file.read_text(encoding="ascii").strip())
    except OSError as exc:
        raise SystemFailure(f"redaction key {file}: cannot be read ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError):
        raise BadInputError(
            f"redaction key {file}: not a key (expected {_KEY_BYTES} bytes in hex); remove it to create a new one"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise BadInputError(
            f"redaction key {file}: readable by others (mode {stat.S_IMODE(mode):o}); `chmod 600 {file}`"
        )
    if len(key) < 16:
        raise BadInputError(f"redaction key {file}: {len(key)} bytes; remove it to create a new one")
    return key


def _create(file: Path) -> None:
    """Written to a private scratch file, then linked into place: a concurrent process either wins
    the link or reads the winner's whole key, never a half-written one."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        scratch = file.with_name(f".{file.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(_KEY_BYTES) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process's key won: read that one
                os.link(scratch, file)
        finally:
            scratch.unlink(missing_ok=True)
    except OSError as exc:
        raise SystemFailure(
            f"redaction key {file}: cannot be created ({exc.strerror}); set PM_REDACTION_KEY instead"
        ) from None
