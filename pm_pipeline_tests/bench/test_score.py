"""Recall and precision against the ground truth, and reading each tool's answer as row findings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pm_pipeline.core.reconcile.engine import ReconcileOptions
from pm_pipeline_bench.measure import ToolFailed
from pm_pipeline_bench.score import Truth, from_findings_json, from_key_lists, from_reladiff, score

TRUTH = Truth(
    expected=frozenset({(1, "missing"), (2, "extra"), (3, "changed"), (4, "changed")}),
    float_noise=frozenset({9}),
)


def test_a_perfect_answer_scores_one_and_one() -> None:
    result = score(TRUTH.expected, TRUTH)
    assert (result.recall, result.precision, result.false_positives, result.missed) == (1.0, 1.0, 0, 0)


def test_float_noise_and_unchanged_rows_are_false_positives_and_misses_lower_recall() -> None:
    reported = {(1, "missing"), (3, "changed"), (9, "changed"), (50, "changed")}
    result = score(reported, TRUTH)
    assert result.true_positives == 2
    assert result.false_positives == 2
    assert result.float_noise_reported == 1
    assert result.missed == 2
    assert result.recall == 0.5
    assert result.precision == 0.5


def test_a_row_reported_with_the_wrong_kind_is_wrong() -> None:
    # a changed row called missing is a false positive and the changed row is still missed
    result = score({(3, "missing")}, TRUTH)
    assert (result.true_positives, result.false_positives, result.missed) == (0, 1, 4)


def test_precision_is_undefined_when_nothing_is_reported() -> None:
    assert score(set(), TRUTH).precision is None
    assert score(set(), Truth(frozenset(), frozenset())).recall == 1.0


def _finding(category: str, key: dict[str, int] | None, column: str | None = None) -> dict[str, object]:
    return {"table": "orders", "category": category, "key": key, "column": column, "severity": "error"}


def test_findings_json_counts_a_row_once_whatever_its_changed_cells(tmp_path: Path) -> None:
    path = tmp_path / "findings.json"
    findings = [
        _finding("missing_row", {"id": 1}),
        _finding("extra_row", {"id": 2}),
        _finding("value_mismatch", {"id": 3}, "amount"),
        _finding("value_mismatch", {"id": 3}, "status"),
        _finding("checksum_mismatch", None),
        _finding("type_changed", None, "note"),
    ]
    path.write_text(json.dumps({"schema_version": "1.0", "findings": findings}))
    assert from_findings_json(path) == {(1, "missing"), (2, "extra"), (3, "changed")}


def test_findings_json_cut_at_pm_pipelines_limit_is_a_failure_not_misses(tmp_path: Path) -> None:
    path = tmp_path / "findings.json"
    tables = [
        {"table": "orders", "findings": 2, "findings_truncated": True},
        {"table": "customers", "findings": 0, "findings_truncated": False},
    ]
    findings = [_finding("missing_row", {"id": 1}), _finding("extra_row", {"id": 2})]
    path.write_text(json.dumps({"schema_version": "1.0", "tables": tables, "findings": findings}))
    limit = f"{ReconcileOptions().findings_limit:,}"
    with pytest.raises(ToolFailed, match=rf"findings for orders at its findings limit of {limit} ") as failed:
        from_findings_json(path)
    assert "no option to raise that limit" in str(failed.value) and "customers" not in str(failed.value)
    tables[0]["findings_truncated"] = False
    path.write_text(json.dumps({"schema_version": "1.0", "tables": tables, "findings": findings}))
    assert from_findings_json(path) == {(1, "missing"), (2, "extra")}


def test_reladiff_minus_only_is_missing_plus_only_extra_both_changed() -> None:
    stdout = "\n".join(
        [
            '["-", ["1", "a", null]]',
            '["+", ["2", "b", "x"]]',
            '["-", ["3", "c", "x"]]',
            '["+", ["3", "d", "x"]]',
            "[05:19:58] WARNING - a log line that is not a diff",
        ]
    )
    assert from_reladiff(stdout) == {(1, "missing"), (2, "extra"), (3, "changed")}


@pytest.mark.parametrize("document", [{"missing": [1], "extra": [2], "changed": [3, 4]}])
def test_key_lists_of_the_workers(document: dict[str, list[int]]) -> None:
    assert from_key_lists(document) == TRUTH.expected
