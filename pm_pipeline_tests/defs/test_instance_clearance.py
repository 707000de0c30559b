"""PM_DAGSTER_CLEARANCE caps what a code location shows: no asset or check metadata, log line or
report set of a run holds a value above it, the audiences above it get no set from Dagster, and
without it the spec's own clearance applies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.report.audiences import INSTANCE_CLEARANCE_ENV, clearance_from_env
from pm_pipeline_tests.test_cli_audiences import INTERNAL, RESTRICTED, audience_spec
from pm_pipeline_tests.test_definitions import build, definitions_module

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")


def _run(directory: Path) -> tuple[Any, str]:
    """The main job on a spec cleared for restricted values; everything its events carry, as text."""
    spec = audience_spec(directory, clearance="restricted", audiences="[public, internal, restricted]")
    defs = build(spec)
    job = defs.resolve_job_def(definitions_module(spec).MAIN_JOB)
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    shown = "\n".join(f"{event.message}\n{event.event_specific_data!r}" for event in result.all_events)
    return result, shown


def _files_holding(root: Path, needle: str) -> list[str]:
    import pyarrow.parquet as pq

    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", errors="replace")
        if path.suffix == ".parquet":
            text += repr(pq.read_table(path).to_pylist())
        if needle in text:
            found.append(path.relative_to(root).as_posix())
    return found


def test_the_instance_clearance_caps_metadata_and_report_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(INSTANCE_CLEARANCE_ENV, "internal")
    result, shown = _run(tmp_path)
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["reports", "migration_report"]) in materialized
    assert RESTRICTED not in shown
    assert INTERNAL in shown  # values at the instance's clearance are still shown
    reports = tmp_path / "reports"
    assert sorted(p.name for p in reports.iterdir() if not p.name.startswith(".")) == [
        "diffs",
        "internal",
        "public",
    ]
    assert _files_holding(reports, RESTRICTED) == []
    assert _files_holding(reports / "public", INTERNAL) == []
    assert "findings.json" in _files_holding(reports / "internal" / "latest", INTERNAL)


def test_without_a_cap_the_specs_clearance_applies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The control for the test above: the same run does show restricted values when cleared.
    monkeypatch.delenv(INSTANCE_CLEARANCE_ENV, raising=False)
    _, shown = _run(tmp_path)
    assert RESTRICTED in shown
    assert _files_holding(tmp_path / "reports" / "restricted" / "latest", RESTRICTED)


def test_a_misspelt_clearance_is_bad_input() -> None:
    assert clearance_from_env(" Public ") is clearance_from_env("public")
    assert clearance_from_env("") is None
    with pytest.raises(BadInputError, match=f"{INSTANCE_CLEARANCE_ENV}='secret': not a clearance"):
        clearance_from_env("secret")
