"""Ground truth and how a tool's answer scores against it: a row counts once, by key and kind.

Kinds are ``missing`` (in the source only), ``extra`` (in the target only) and ``changed`` (in
both, some value differs beyond the rules). A reported row that is not in the ground truth with
that kind (an unchanged row, a float-noise row, a changed row called missing) is a false positive.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from pm_pipeline.core.reconcile.engine import ReconcileOptions
from pm_pipeline_bench.measure import ToolFailed

KINDS = ("missing", "extra", "changed")
RowFinding = tuple[int, str]  # (id, kind)
_CATEGORY_KINDS = {
    "missing_row": "missing",
    "extra_row": "extra",
    "value_mismatch": "changed",
    "duplicate_key": "duplicate",  # never seeded: always a false positive
}


@dataclass(frozen=True)
class Truth:
    expected: frozenset[RowFinding]
    float_noise: frozenset[int]  # ids whose only edit is within tolerance: never to be reported


@dataclass(frozen=True)
class Score:
    reported: int
    true_positives: int
    false_positives: int
    float_noise_reported: int
    missed: int
    recall: float
    precision: float | None  # None when nothing was reported


def load_truth(edits_parquet: Path) -> Truth:
    connection = duckdb.connect()
    try:
        rows = connection.execute(
            "SELECT id, edit, expected FROM read_parquet(?)", [str(edits_parquet)]
        ).fetchall()
    finally:
        connection.close()
    return Truth(
        expected=frozenset((int(id_), str(kind)) for id_, _, kind in rows if kind is not None),
        float_noise=frozenset(int(id_) for id_, edit, _ in rows if edit == "float_noise"),
    )


def score(reported: Iterable[RowFinding], truth: Truth) -> Score:
    found = frozenset(reported)
    hits = found & truth.expected
    return Score(
        reported=len(found),
        true_positives=len(hits),
        false_positives=len(found - hits),
        float_noise_reported=sum(1 for id_, _ in found if id_ in truth.float_noise),
        missed=len(truth.expected - hits),
        recall=len(hits) / len(truth.expected) if truth.expected else 1.0,
        precision=len(hits) / len(found) if found else None,
    )


def from_findings_json(path: Path) -> frozenset[RowFinding]:
    """Row findings of pm-pipeline's findings JSON (schema 1.x): one per key and kind.

    Raises ToolFailed when pm-pipeline stopped collecting findings for a table
    (``findings_truncated``): the findings it left out would otherwise count as misses.
    """
    document = json.loads(path.read_text())
    truncated = [
        str(table["table"]) for table in document.get("tables", []) if table.get("findings_truncated")
    ]
    if truncated:
        raise ToolFailed(
            f"pm-pipeline stopped collecting findings for {', '.join(truncated)} at its findings limit of "
            f"{ReconcileOptions().findings_limit:,} (findings_truncated in {path.name}); "
            "`pm-pipeline check` has no option to raise that limit: lower --rate or --rows"
        )
    found: set[RowFinding] = set()
    for finding in document["findings"]:
        category = finding["category"]
        if category in _CATEGORY_KINDS and finding.get("key"):
            found.add((int(finding["key"]["id"]), _CATEGORY_KINDS[category]))
    return frozenset(found)


def from_key_lists(document: Mapping[str, Any]) -> frozenset[RowFinding]:
    """``{"missing": [ids], "extra": [ids], "changed": [ids]}`` as written by the baseline workers."""
    return frozenset((int(id_), kind) for kind in KINDS for id_ in document.get(kind, []))


def from_reladiff(stdout: str) -> frozenset[RowFinding]:
    """reladiff's ``--json`` lines ``[sign, [key, values...]]``: only '-' is missing, only '+' extra."""
    signs: dict[int, set[str]] = {}
    for line in stdout.splitlines():
        if not line.startswith('["'):
            continue
        sign, row = json.loads(line)
        signs.setdefault(int(row[0]), set()).add(sign)
    kinds = {frozenset({"-"}): "missing", frozenset({"+"}): "extra"}
    return frozenset((id_, kinds.get(frozenset(seen), "changed")) for id_, seen in signs.items())
