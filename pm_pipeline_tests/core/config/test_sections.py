"""The spec's integrity, rollback and monitoring sections are typed models, parsed once when the spec
is loaded, and every problem in them is worded the same way: file, key path from the top, what."""

from __future__ import annotations

from pathlib import Path

import pytest

from pm_pipeline.core.config import MigrationSpec, load_spec
from pm_pipeline.core.config.integrity import IntegritySettings
from pm_pipeline.core.config.monitoring import MonitoringSettings
from pm_pipeline.core.config.rollback import RollbackSettings
from pm_pipeline.core.errors import SpecError

HEAD = "source: {url: 'sqlite:///s.db'}\ntarget: {url: 'sqlite:///t.db'}\ntables: [{source: items}]\n"


def _load(tmp_path: Path, sections: str) -> MigrationSpec:
    path = tmp_path / "migration.yaml"
    path.write_text(HEAD + sections, encoding="utf-8")
    return load_spec(path)


def test_sections_are_typed_and_absent_ones_take_their_defaults(tmp_path: Path) -> None:
    spec = _load(tmp_path, "integrity: {checksums: false}\nmonitoring: {alert_interval: 5m}\n")
    assert isinstance(spec.integrity, IntegritySettings) and spec.integrity.checksums is False
    assert isinstance(spec.monitoring, MonitoringSettings) and spec.monitoring.alert_interval_seconds == 300
    # No rollback section: none declared (no rollback job), and the defaults where one is needed.
    assert spec.rollback is None
    assert spec.rollback_settings == RollbackSettings()
    assert _load(tmp_path, "rollback: {}\n").rollback is None
    declared = _load(tmp_path, "rollback: {approvals_required: 3}\n")
    assert declared.rollback is not None and declared.rollback_settings.approvals_required == 3


@pytest.mark.parametrize(
    ("section", "path", "problem"),
    [
        (
            "integrity:\n  rules: [{name: r, table: t, check: 'x > 0', chekc: y}]\n",
            "integrity.rules[0].chekc",
            "unknown key",
        ),
        ("rollback:\n  approvals_required: 0\n", "rollback.approvals_required", "greater than or equal to 1"),
        ("monitoring:\n  anomaly: {windw: 5}\n", "monitoring.anomaly.windw", "unknown key"),
        ("monitoring: [1]\n", "monitoring", "expected a mapping"),
    ],
)
def test_a_problem_names_the_file_and_the_key_path_from_the_top(
    tmp_path: Path, section: str, path: str, problem: str
) -> None:
    with pytest.raises(SpecError) as raised:
        _load(tmp_path, section)
    message = str(raised.value)
    assert "migration.yaml" in message
    assert path in message and problem in message
