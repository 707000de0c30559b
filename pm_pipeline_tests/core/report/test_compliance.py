"""The evidence pack's compliance section: each check mapped to the controls it supports, per tenant, never claiming certification."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.core.errors import SpecError
from pm_pipeline.core.report import ReportData, ReportFormat, write_reports
from pm_pipeline.core.report.compliance import parse_compliance

from .extract import pdf_pages


def _evidence(
    report: ReportData, tmp_path: Path, compliance: dict[str, Any] | None
) -> tuple[dict[str, Any], str]:
    settings = parse_compliance(compliance, file="spec.yaml")
    paths = write_reports(
        replace(report, compliance=settings), directory=tmp_path, formats=["evidence_json", "evidence_pdf"]
    )
    pdf = " ".join(" ".join(pdf_pages(paths[ReportFormat.EVIDENCE_PDF])).split())
    return json.loads(paths[ReportFormat.EVIDENCE_JSON].read_text()), pdf


def test_every_framework_by_default_with_the_checks_that_ran(report: ReportData, tmp_path: Path) -> None:
    evidence, pdf = _evidence(report, tmp_path, {})
    controls = {c["control"]: c for c in evidence["compliance"]["controls"]}
    assert {"CC7.1", "CC8.1", "A.8.29", "A.8.32", "164.312(c)(1)", "Art. 5(1)(d)", "Art. 32(1)(b)"} <= set(
        controls
    )
    assert controls["CC8.1"]["checks"] == ["reconciliation", "schema", "integrity"]
    assert controls["164.312(c)(1)"]["tables"] == ["accounts", "customers", "orders"]
    # The sample run found errors: the control's evidence says so instead of hiding it.
    assert controls["Art. 5(1)(d)"]["passed"] is False
    # No rollback or performance check ran: controls only they support are not listed.
    assert "A.8.13" not in controls and "Art. 32(1)(c)" not in controls and "CC7.2" in controls
    assert controls["CC7.2"]["checks"] == ["integrity"]
    assert "Controls this evidence supports" in pdf and "164.312(c)(1)" in pdf
    assert "not a certification" in evidence["compliance"]["statement"]
    for claim in ("certified", "certifies", "compliant with", "guarantee"):
        assert claim not in pdf.lower() and claim not in json.dumps(evidence).lower()


def test_a_tenant_chooses_frameworks_adds_and_excludes_controls(report: ReportData, tmp_path: Path) -> None:
    evidence, pdf = _evidence(
        report,
        tmp_path,
        {
            "frameworks": ["hipaa", "gdpr"],
            "exclude": ["Art. 32(1)(d)"],
            "controls": [
                {"framework": "Acme data policy", "control": "DP-4", "title": "Migrated data is reconciled",
                 "checks": ["reconciliation"]},
            ],
        },
    )  # fmt: skip
    listed = [(c["framework"], c["control"]) for c in evidence["compliance"]["controls"]]
    assert listed == [
        ("HIPAA Security Rule", "164.312(c)(1)"),
        ("GDPR", "Art. 5(1)(d)"),
        ("GDPR", "Art. 32(1)(b)"),
        ("Acme data policy", "DP-4"),
    ]
    assert "DP-4: Migrated data is reconciled" in pdf and "SOC 2" not in pdf


def test_no_section_without_a_compliance_setting(report: ReportData, tmp_path: Path) -> None:
    evidence, pdf = _evidence(report, tmp_path, None)
    assert "compliance" not in evidence and "Controls this evidence supports" not in pdf


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ({"frameworks": ["sox"]}, "compliance.frameworks[0]"),
        ({"controls": [{"framework": "X", "control": "1", "title": "t", "checks": ["audit"]}]},
         "compliance.controls[0].checks[0]"),
        ({"exclude": ["CC9.9"]}, "compliance.exclude"),
        ({"framework": ["soc2"]}, "compliance.framework"),
    ],
)  # fmt: skip
def test_a_bad_compliance_section_names_its_key(section: dict[str, Any], path: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_compliance(section, file="spec.yaml")
    assert raised.value.path == path


def test_a_check_run_maps_its_checks_in_the_spec_tenants_frameworks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    from pm_pipeline.cli import main

    for name in ("s.db", "t.db"):
        with sqlite3.connect(tmp_path / name) as connection:
            connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
            connection.execute("INSERT INTO items VALUES (1, 'a')")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"source: {{url: 'sqlite:///{tmp_path / 's.db'}'}}\ntarget: {{url: 'sqlite:///{tmp_path / 't.db'}'}}\n"
        "tables: [{source: items}]\ncompliance:\n  frameworks: [hipaa]\n"
    )
    reports = tmp_path / "reports"
    assert main(["check", "--spec", str(spec), "--reports", str(reports), "--no-progress"]) == 0, (
        capsys.readouterr()
    )
    (evidence_file,) = [p for p in reports.rglob("evidence-pack.json") if "latest" not in p.parts]
    controls = json.loads(evidence_file.read_text())["compliance"]["controls"]
    assert [(c["control"], c["passed"], c["tables"]) for c in controls] == [
        ("164.312(c)(1)", True, ["items"])
    ]
    spec.write_text(spec.read_text().replace("[hipaa]", "[hipa]"))
    assert main(["validate-spec", str(spec)]) == 2
    assert "compliance.frameworks[0]" in capsys.readouterr().err
