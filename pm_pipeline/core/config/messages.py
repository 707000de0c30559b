"""How a spec validation error reads: the key path it happened at, and what was expected there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def location_text(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a spec key path: ``tables[0].columns``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


_SECRET_KEYS = ("password", "secret", "token", "url", "dsn", "key_env", "credential")


def _may_be_secret(loc: Any, given: Any) -> bool:
    """A value given under a key that names a secret or a connection (``smtp.password``,
    ``audit.anchor_url``), or any text that looks like a URL."""
    names = [str(part).lower() for part in loc if isinstance(part, str)]
    if any(word in name for name in names for word in _SECRET_KEYS):
        return True
    return isinstance(given, str) and ("://" in given or ":/" in given)


def describe_error(error: Mapping[str, Any]) -> str:
    """One pydantic error as the problem a spec's author reads: what is wrong, and the value given."""
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key (check its spelling)"
    if kind == "missing":
        return "required key is missing"
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    given = error.get("input")
    if _may_be_secret(error.get("loc", ()), given):
        return message  # never repeated: it may be or carry a password
    if kind != "model_type" and not isinstance(given, dict | list) and repr(given) not in message:
        return f"{message} (got {given!r})"
    return message
