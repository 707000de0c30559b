"""The spec's integrity, rollback, monitoring, audit and compliance sections are typed models, parsed
once when the spec is loaded, and every problem in them is worded the same way: file, key path from
the top, what."""

from __future__ import annotations

from pathlib import Path

import pytest

from pm_pipeline.core.config import MigrationSpec, load_spec
from pm_pipeline.core.config.audit import AuditSettings
from pm_pipeline.core.config.compliance import ALL_FRAMEWORKS, ComplianceSettings
from pm_pipeline.core.config.integrity import IntegritySettings
from pm_pipeline.core.config.monitoring import MonitoringSettings
from pm_pipeline.core.config.rollback import RollbackSettings
from pm_pipeline.core.errors import SpecError
from pm_pipeline.core.security.audit import AuditConfig
from pm_pipeline.core.security.settings import audit_config, audit_log_path

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
        # A key variable no shell can set: the log would silently stay unkeyed.
        ("audit:\n  key_env: 1BAD\n", "audit.key_env", "should match pattern"),
        # A misspelled anchor would leave the head unanchored where the author expects it.
        ("audit:\n  anchor_fille: a.json\n", "audit.anchor_fille", "unknown key"),
        # `audit: yes` reads as a switch, but the section is a mapping.
        ("audit: yes\n", "audit", "expected a mapping"),
        # A framework the catalogue does not hold: its controls would be missing from the pack.
        ("compliance:\n  frameworks: [soc2, sox]\n", "compliance.frameworks[1]", "'hipaa'"),
        # A tenant control naming no check would never appear in the pack.
        (
            "compliance:\n  controls: [{framework: X, control: '1', title: t}]\n",
            "compliance.controls[0].checks",
            "required key is missing",
        ),
        # Excluding a control that does not exist (a typo) would exclude nothing.
        ("compliance:\n  exclude: [A.8.13, CC9.9]\n", "compliance.exclude", "no such control: CC9.9"),
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


def test_audit_and_compliance_are_typed_when_the_spec_loads(tmp_path: Path) -> None:
    spec = _load(
        tmp_path,
        "audit: {log: audit/shop.jsonl, key_env: SHOP_KEY}\n"
        "compliance:\n  frameworks: [hipaa]\n"
        "  controls: [{framework: Acme, control: DP-4, title: Reconciled, checks: [reconciliation]}]\n"
        "  exclude: [DP-4]\n",
    )
    assert isinstance(spec.audit, AuditSettings) and spec.audit.key_env == "SHOP_KEY"
    assert audit_log_path(spec) == Path("audit/shop.jsonl")
    assert isinstance(spec.compliance, ComplianceSettings)
    assert spec.compliance.frameworks == ["hipaa"] and spec.compliance.exclude == ["DP-4"]
    # No sections: checks are not audited, and the evidence pack has no compliance section; an
    # empty compliance section maps every built-in framework.
    bare = _load(tmp_path, "")
    assert bare.audit == AuditSettings() and audit_log_path(bare) is None and bare.compliance is None
    every = _load(tmp_path, "compliance: {}\n").compliance
    assert every is not None and tuple(every.frameworks) == ALL_FRAMEWORKS


def test_an_audit_section_left_out_keys_the_log_as_the_log_itself_does_by_default(tmp_path: Path) -> None:
    assert audit_config(_load(tmp_path, "").audit) == AuditConfig()


def test_a_bad_anchor_url_is_named_but_not_repeated(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as raised:
        _load(tmp_path, "audit: {anchor_url: 'mysql://auditor:s3cret-pass@db/audit'}\n")
    assert raised.value.path == "audit.anchor_url" and "PostgreSQL URL" in raised.value.problem
    assert "s3cret-pass" not in str(raised.value)


@pytest.mark.parametrize(
    "section,secret",
    [
        # one slash short of a URL: still not repeated
        ("audit: {anchor_url: 'postgresql:/auditor:s3cret-pass@db/a'}\n", "s3cret-pass"),
        # a numeric password YAML reads as an integer: named by its key, not repeated
        (
            "monitoring:\n  notifiers:\n    mail: {type: smtp, host: mail, sender: a@b.c, recipients: [o@b.c],"
            " username: ops, password: 20240601}\n",
            "20240601",
        ),
    ],
)
def test_a_value_under_a_secret_or_url_key_is_never_repeated(
    tmp_path: Path, section: str, secret: str
) -> None:
    with pytest.raises(SpecError) as raised:
        _load(tmp_path, section)
    assert raised.value.path.endswith(("anchor_url", "password"))
    assert secret not in str(raised.value)
