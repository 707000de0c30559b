"""Suggest which target column a missing source column was renamed to, from names and value profiles."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pm_pipeline.core.connectors.schema import Column
from pm_pipeline.core.findings import Category
from pm_pipeline.core.names import name_key
from pm_pipeline.core.schema.profile import ColumnProfile, profile_similarity
from pm_pipeline.core.schema.widths import judge_types

# Abbreviations seen in legacy schemas, expanded before names are compared.
ABBREVIATIONS: dict[str, str] = {
    "acct": "account", "addr": "address", "amt": "amount", "cat": "category", "cust": "customer",
    "desc": "description", "dt": "date", "img": "image", "msg": "message", "nbr": "number",
    "no": "number", "num": "number", "org": "organization", "pwd": "password", "prod": "product",
    "qty": "quantity", "ref": "reference", "tel": "phone", "ts": "timestamp", "txn": "transaction",
    "usr": "user", "mail": "email",
}  # fmt: skip

NAME_WEIGHT = 0.35  # with profiles, data outweighs names: a renamed column keeps its values
DEFAULT_THRESHOLD = 0.6


@dataclass(frozen=True)
class RenameSuggestion:
    source_column: str
    target_column: str
    name_similarity: float
    profile_similarity: float | None  # None when either side had no profile (or no rows)
    confidence: float


def name_tokens(name: str) -> tuple[str, ...]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    words = [word for word in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if word]
    return tuple(ABBREVIATIONS.get(word, word) for word in words)


def _token_match(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= 3 and (a.startswith(b) or b.startswith(a)))


def name_similarity(a: str, b: str) -> float:
    """0..1: half character similarity, half token overlap (email_address ~ email, cust_id = customer_id);
    names equal up to case and separators (customerid, CustomerId) score 1."""
    left, right = name_tokens(a), name_tokens(b)
    if not left or not right:
        return 0.0
    if left == right or name_key(a) == name_key(b):
        return 1.0
    chars = difflib.SequenceMatcher(None, "_".join(left), "_".join(right)).ratio()
    shared = sum(1 for token in left if any(_token_match(token, other) for other in right))
    union = len(left) + len(right) - shared
    tokens = 0.5 * shared / union + 0.5 * shared / min(len(left), len(right))
    return 0.5 * chars + 0.5 * tokens


def suggest_renames(
    *,
    missing: Sequence[Column],
    extra: Sequence[Column],
    source_engine: str,
    target_engine: str,
    source_profiles: Mapping[str, ColumnProfile] | None = None,
    target_profiles: Mapping[str, ColumnProfile] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[RenameSuggestion, ...]:
    """Pair missing source columns with extra target columns, best first, each column at most once.

    A pair whose types the mapping table calls incompatible is never suggested. With profiles on
    both sides the confidence is ``0.35 * name + 0.65 * profile``; without, the name alone.
    """
    candidates: list[RenameSuggestion] = []
    for source in missing:
        for target in extra:
            judgement = judge_types(
                source=source, target=target, source_engine=source_engine, target_engine=target_engine
            )
            if judgement.category is Category.TYPE_INCOMPATIBLE:
                continue
            names = name_similarity(source.name, target.name)
            left = (source_profiles or {}).get(source.name)
            right = (target_profiles or {}).get(target.name)
            profiles = None if left is None or right is None else profile_similarity(left, right)
            confidence = names if profiles is None else NAME_WEIGHT * names + (1 - NAME_WEIGHT) * profiles
            if confidence >= threshold:
                candidates.append(
                    RenameSuggestion(
                        source.name, target.name, round(names, 3), profiles and round(profiles, 3),
                        round(confidence, 3),
                    )
                )  # fmt: skip
    chosen: list[RenameSuggestion] = []
    used_source: set[str] = set()
    used_target: set[str] = set()
    for suggestion in sorted(candidates, key=lambda s: (-s.confidence, s.source_column, s.target_column)):
        if suggestion.source_column in used_source or suggestion.target_column in used_target:
            continue
        chosen.append(suggestion)
        used_source.add(suggestion.source_column)
        used_target.add(suggestion.target_column)
    return tuple(chosen)
