"""The ``compliance:`` section of a migration spec: which frameworks' controls the evidence pack maps
the checks to, a tenant's own controls, and the controls left out.

The built-in catalogue lives here because the section names its controls: an excluded control
must exist. The evidence pack (:mod:`pm_pipeline.core.report.compliance`) maps a run's checks to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from pm_pipeline.core.config.sections import parse_section

Check = Literal["reconciliation", "schema", "integrity", "performance", "rollback"]
CHECKS: tuple[Check, ...] = get_args(Check)
Framework = Literal["soc2", "iso27001", "hipaa", "gdpr"]
ALL_FRAMEWORKS: tuple[Framework, ...] = get_args(Framework)


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
    checks: list[Check] = Field(min_length=1)


class ComplianceSettings(BaseModel):
    """The spec's ``compliance:`` section: built-in frameworks to map, and a tenant's own controls."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frameworks: list[Framework] = Field(default_factory=lambda: list(ALL_FRAMEWORKS))
    controls: list[CustomControl] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list, description="control ids left out, e.g. 'A.8.13'")

    @field_validator("exclude")
    @classmethod
    def _known(cls, value: list[str], info: ValidationInfo) -> list[str]:
        known = {c.control for controls in CATALOGUE.values() for c in controls}
        known |= {c.control for c in info.data.get("controls", ())}
        unknown = [control for control in value if control not in known]
        if unknown:
            raise ValueError(f"no such control: {', '.join(unknown)}")
        return value


def parse_compliance(data: Any, *, file: str) -> ComplianceSettings | None:
    """None when the spec has no ``compliance`` section (the evidence pack then has none);
    ``compliance: {}`` maps to every built-in framework. Errors name the file and the key path
    (``compliance.frameworks[0]``)."""
    if data is None:
        return None
    return parse_section(ComplianceSettings, data, file=file, section="compliance")
