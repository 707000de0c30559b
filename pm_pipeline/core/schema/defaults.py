"""Column defaults reduced to one spelling, so CURRENT_TIMESTAMP, now() and current_timestamp() agree."""

from __future__ import annotations

import decimal
import re

from pm_pipeline.core.connectors.schema import TypeFamily

# Function spellings across engines that mean the same default value.
DEFAULT_FUNCTIONS: tuple[tuple[str, str], ...] = (
    (r"(current_timestamp|now|localtimestamp|statement_timestamp|transaction_timestamp|getdate)(\(\d*\))?", "now()"),
    (r"datetime\('now'\)", "now()"),
    (r"(current_date|curdate)(\(\))?", "current_date"),
    (r"(current_time|curtime|localtime)(\(\d*\))?", "current_time"),
    (r"(uuid|gen_random_uuid|uuid_generate_v4)\(\)", "uuid()"),
)  # fmt: skip

_TRUE = {"1", "true", "t", "yes", "y", "on", "b'1'"}
_FALSE = {"0", "false", "f", "no", "n", "off", "b'0'"}
_NUMERIC = {TypeFamily.INTEGER, TypeFamily.DECIMAL, TypeFamily.FLOAT}


def _strip_parens(text: str) -> str:
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _without_cast(text: str) -> str:
    """Drop a trailing PostgreSQL cast ('x'::character varying, '0'::integer) outside quotes."""
    quoted = False
    for index, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif not quoted and text.startswith("::", index):
            return text[:index].strip()
    return text


def normalise_default(default: str | None, family: TypeFamily) -> str | None:
    """One spelling per default value; None for no default and for DEFAULT NULL."""
    if default is None:
        return None
    text = _strip_parens(_without_cast(_strip_parens(default.strip())))
    if text.upper() == "NULL":
        return None
    match = re.fullmatch(r"'((?:[^']|'')*)'", text, flags=re.DOTALL)
    value = match.group(1).replace("''", "'") if match else text
    if not match:
        squeezed = re.sub(r"\s+", "", value.lower())
        for pattern, spelling in DEFAULT_FUNCTIONS:
            if re.fullmatch(pattern, squeezed):
                return spelling
    if family is TypeFamily.BOOLEAN and value.lower() in _TRUE | _FALSE:
        return "true" if value.lower() in _TRUE else "false"
    if family in _NUMERIC:
        try:
            number = decimal.Decimal(value)
        except decimal.InvalidOperation:
            return value
        return str(int(number)) if number == number.to_integral_value() else format(number.normalize(), "f")
    return value


def is_sequence_default(default: str | None) -> bool:
    """A default that is really an identity counter (serial): compared as a sequence instead."""
    return default is not None and default.strip().lower().startswith("nextval(")
