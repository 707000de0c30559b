"""Fixtures of the report tests: the fixed sample report."""

from __future__ import annotations

import pytest

from pm_pipeline.core.report import ReportData

from .support import sample_report


@pytest.fixture
def report() -> ReportData:
    return sample_report()
