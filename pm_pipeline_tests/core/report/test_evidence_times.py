"""The evidence pack's "what was checked, and when" holds the checks' own times, not the run's window."""

from __future__ import annotations

import dataclasses
import datetime as dt

from pm_pipeline.core.report.data_formats import evidence_json
from pm_pipeline_tests.core.report.support import (
    STARTED,
    accounts_reconciliation,
    customers_reconciliation,
    sample_report,
)


def test_reconciliation_is_timed_by_its_tables() -> None:
    report = sample_report()
    evidence = evidence_json(report, artifacts={})
    checks = {c["check"]: c for c in evidence["checks"]}
    # customers ran from +2 s to +3.25 s, accounts from +30 s to +30.5 s; the run from +0 to +42 s.
    assert checks["reconciliation"]["started_at"] == (STARTED + dt.timedelta(seconds=2)).isoformat()
    assert checks["reconciliation"]["finished_at"] == (STARTED + dt.timedelta(seconds=30.5)).isoformat()
    assert checks["schema"]["started_at"] == report.run.started_at.isoformat()
    times = {t["table"]: t for t in evidence["tables_checked"]}
    assert set(times) == {"customers", "accounts"}
    assert times["accounts"]["started_at"] == (STARTED + dt.timedelta(seconds=30)).isoformat()
    assert times["customers"]["seconds"] == 1.25


def test_results_without_times_fall_back_to_the_run_window() -> None:
    untimed = tuple(
        dataclasses.replace(t(), started_at=None, finished_at=None)
        for t in (customers_reconciliation, accounts_reconciliation)
    )
    report = sample_report(tables=untimed)
    evidence = evidence_json(report, artifacts={})
    (reconciliation,) = [c for c in evidence["checks"] if c["check"] == "reconciliation"]
    assert reconciliation["started_at"] == report.run.started_at.isoformat()
    assert evidence["tables_checked"] == []
