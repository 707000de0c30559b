"""Which controls of which frameworks each check of a run supports: the evidence pack's compliance section.

The mapping is evidence that a control's activity took place (a migration was verified, a change
was tested, a restore was planned), never a claim that an organisation meets the control or the
framework: certification and attestation are for auditors. Each tenant chooses its frameworks
and may add its own controls in the spec's ``compliance:`` section.
"""

from __future__ import annotations

from dataclasses import dataclass

from pm_pipeline.core.config.compliance import (
    CATALOGUE,
    ComplianceSettings,
    Control,
    parse_compliance,
)

__all__ = [
    "CATALOGUE",
    "COMPLIANCE_STATEMENT",
    "ComplianceSettings",
    "Control",
    "ControlEvidence",
    "controls_of",
    "map_controls",
    "parse_compliance",
]

COMPLIANCE_STATEMENT = (
    "Each control below is listed because a check of this run produces evidence relevant to it. "
    "The mapping supports an assessment; it is not a certification, an attestation or a statement "
    "that any control or framework requirement is met."
)


@dataclass(frozen=True)
class ControlEvidence:
    """One control and the checks of this run that give evidence for it (with the tables they covered)."""

    framework: str
    control: str
    title: str
    checks: tuple[str, ...]
    tables: tuple[str, ...]
    passed: bool


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
