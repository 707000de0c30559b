"""The rows a query answers, reduced to a fingerprint so both sides' answers compare in constant
memory: a row count, a multiset hash (order-free) and a sequence hash (for ORDER BY queries).

Values are put in one form across engines first: booleans as 0/1, numbers as their decimal text
(non-integers to 10 significant digits, since engines compute averages in different types), times
in UTC ISO form, bytes in hex. No value is kept.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_MASK = (1 << 128) - 1
_ORDER_BY = re.compile(r"\bORDER\s+BY\b", re.IGNORECASE)
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`")


def ordered(sql: str) -> bool:
    """Whether the query's outermost SELECT has ORDER BY (one inside parentheses orders a subquery)."""
    text = _QUOTED.sub("''", sql)
    depth = 0
    outer: list[str] = []
    for char in text:
        depth += char == "("
        outer.append(char if depth == 0 else " ")
        depth -= char == ")"
    return bool(_ORDER_BY.search("".join(outer)))


def canonical(value: Any) -> str:
    if value is None:
        return "\0null"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | decimal.Decimal):
        number = decimal.Decimal(str(value)) if isinstance(value, float) else value
        if not number.is_finite():
            return str(number)
        if number == number.to_integral_value():
            return str(int(number))
        with decimal.localcontext() as context:
            context.prec = 10
            rounded: decimal.Decimal = +number
            return format(rounded, "f").rstrip("0").rstrip(".")
    if isinstance(value, dt.datetime):
        moment: dt.datetime = value
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        return moment.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    return str(value)


@dataclass(frozen=True)
class Answer:
    rows: int
    multiset: int
    sequence: str

    def differs(self, other: Answer, *, in_order: bool) -> str | None:
        """Why the two answers differ, or None."""
        if self.rows != other.rows:
            return f"{self.rows:,} row(s) on the source, {other.rows:,} on the target"
        if self.multiset != other.multiset:
            return f"the same number of rows ({self.rows:,}) with different values"
        if in_order and self.sequence != other.sequence:
            return f"the same {self.rows:,} row(s) in a different order (ORDER BY with ties?)"
        return None


def answer(rows: Iterable[tuple[Any, ...]]) -> Answer:
    count = 0
    total = 0
    chain = hashlib.sha256()
    for row in rows:
        digest = hashlib.sha256("\x1f".join(map(canonical, row)).encode()).digest()
        total = (total + int.from_bytes(digest[:16], "big")) & _MASK
        chain.update(digest)
        count += 1
    return Answer(rows=count, multiset=total, sequence=chain.hexdigest())
