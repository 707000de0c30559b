"""Which controls of which frameworks each check of a run supports: the evidence pack's compliance section.

The mapping is evidence that a control's activity took place (a migration was verified, a change
was tested, a restore was planned), never a claim that an organisation meets the control or the
framework: certification and attestation are for auditors. Each tenant chooses its frameworks
and may add its own controls in the spec's ``compliance:`` section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pm_pipeline.core.errors import SpecError

CHECKS = ("reconciliation", "schema", "integrity", "performance", "rollback")
COMPLIANCE_STATEMENT = (
    "Each control below is listed because a check of this run produces evidence relevant to it. "
    "The mapping supports an assessment; it is not a certification, an attestation or a statement "
    "that any control or framework requirement is met."
)
Framework = Literal["soc2", "iso27001", "hipaa", "gdpr"]
ALL_FRAMEWORKS: tuple[Framework, ...] = ("soc2", "iso27001", "hipaa", "gdpr")


@dataclass(frozen=True)
class Control:
    framework: str
    control: str
    title: str
    checks: tuple[str, ...]


_DATA = ("reconciliation", "schema", "integrity")
CATALOGUE: dict[str, tuple[Control, ...]] = {
    "soc2": (
        Control("SOC 2", "CC7.1", "Detection of changes that introduce vulnerabilities or errors", _DATA),
        Control("SOC 2", "CC7.2", "Monitoring of system components for anomalies", ("performance", "integrity")),
        Control("SOC 2", "CC8.1", "Changes are tested and approved before and after implementation",
                (*_DATA, "performance", "rollback")),
    ),
    "iso27001": (
        Control("ISO/IEC 27001:2022", "A.8.29", "Security testing in development and acceptance", _DATA),
        Control("ISO/IEC 27001:2022", "A.8.32", "Change management", (*_DATA, "performance", "rollback")),
        Control("ISO/IEC 27001:2022", "A.8.13", "Information backup", ("rollback",)),
        Control("ISO/IEC 27001:2022", "A.8.16", "Monitoring activities", ("performance", "integrity")),
    ),
    "hipaa": (
        Control("HIPAA Security Rule", "164.312(c)(1)",
                "Integrity: protect ePHI from improper alteration or destruction", _DATA),
    ),
    "gdpr": (
        Control("GDPR", "Art. 5(1)(d)", "Accuracy of personal data", ("reconciliation", "integrity")),
        Control("GDPR", "Art. 32(1)(b)", "Integrity of processing systems", _DATA),
        Control("GDPR", "Art. 32(1)(c)", "Restore availability and access in a timely manner", ("rollback",)),
        Control("GDPR", "Art. 32(1)(d)", "Regularly testing the effectiveness of measures", (*_DATA, "performance")),
    ),
}  # fmt: skip


class CustomControl(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    framework: str = Field(min_length=1)
    control: str = Field(min_length=1)
    title: str = Field(min_length=1)
    checks: list[Literal["reconciliation", "schema", "integrity", "performance", "rollback"]] = Field(
        min_length=1
    )


class ComplianceSettings(BaseModel):
    """The spec's ``compliance:`` section: built-in frameworks to map, and a tenant's own controls."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frameworks: list[Framework] = Field(default_factory=lambda: list(ALL_FRAMEWORKS))
    controls: list[CustomControl] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list, description="control ids left out, e.g. 'A.8.13'")


@dataclass(frozen=True)
class ControlEvidence:
    """One control and the checks of this run that give evidence for it (with the tables they covered)."""

    framework: str
    control: str
    title: str
    checks: tuple[str, ...]
    tables: tuple[str, ...]
    passed: bool


def parse_compliance(data: Any, *, file: str) -> ComplianceSettings | None:
    """None when the spec has no ``compliance`` section (the evidence pack then has none);
    ``compliance: {}`` maps to every built-in framework."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise SpecError(file=file, path="compliance", problem="expected a mapping")
    try:
        settings = ComplianceSettings.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = "compliance" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        kind = error.get("type", "")
        problem = "unknown key (check its spelling)" if kind == "extra_forbidden" else str(error["msg"])
        raise SpecError(file=file, path=path, problem=problem) from None
    known = {c.control for controls in CATALOGUE.values() for c in controls}
    known |= {c.control for c in settings.controls}
    unknown = [control for control in settings.exclude if control not in known]
    if unknown:
        raise SpecError(
            file=file, path="compliance.exclude", problem=f"no such control: {', '.join(unknown)}"
        )
    return settings


def controls_of(settings: ComplianceSettings) -> list[Control]:
    chosen = [control for name in settings.frameworks for control in CATALOGUE[name]]
    chosen += [Control(c.framework, c.control, c.title, tuple(c.checks)) for c in settings.controls]
    return [control for control in chosen if control.control not in settings.exclude]


def map_controls(
    settings: ComplianceSettings, *, tables: dict[str, tuple[str, ...]], passed: dict[str, bool]
) -> tuple[ControlEvidence, ...]:
    """Each control with the checks of this run that support it; controls no check ran for are left out.

    ``tables`` gives each check the tables it ran on, ``passed`` whether it passed on all of them."""
    evidence = []
    for control in controls_of(settings):
        ran = tuple(check for check in control.checks if check in tables)
        if not ran:
            continue
        covered = tuple(sorted({table for check in ran for table in tables[check]}))
        evidence.append(
            ControlEvidence(
                control.framework,
                control.control,
                control.title,
                ran,
                covered,
                all(passed.get(check, False) for check in ran),
            )
        )
    return tuple(evidence)
