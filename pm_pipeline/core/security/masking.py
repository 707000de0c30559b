"""Connection URLs as they may be shown: passwords and secret query parameters masked."""

from __future__ import annotations

import re

# Query parameters that carry a secret (libpq's ?password=, tokens of HTTP-style URLs).
_SECRET_PARAMETER = re.compile(
    r"(?i)([?&;](?:[a-z_]*pass(?:word)?|pwd|[a-z_]*secret|[a-z_]*token)=)[^&;#\s]*"
)


def mask_url(url: str) -> str:
    """Replace the secrets of a URL with ***, leaving the user, host and database readable.

    Everything between the user name and the last ``@`` is the password, whatever it holds: an
    unencoded ``#``, ``/``, ``?``, ``@`` or ``:`` makes a URL parser split it elsewhere, and it
    would then be printed in clear. So no parser is used. A ``@`` later in the query hides the host
    too: showing too little is the safe side."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return _SECRET_PARAMETER.sub(r"\1***", url)
    at = rest.rfind("@")
    if at >= 0 and not rest.startswith("/"):  # sqlite:///a@b.db names a file, it has no user part
        user, colon, _ = rest[:at].partition(":")
        if colon:
            rest = f"{user}:***{rest[at:]}"
    return scheme + "://" + _SECRET_PARAMETER.sub(r"\1***", rest)
