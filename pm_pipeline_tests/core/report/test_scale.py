"""100,000 findings: every format is written, each file stays under 50 MB, the views show a sample.

No timed assertion (the box is shared); the seconds are recorded as a test property.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pm_pipeline.core.config.spec import Classification
from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.core.report import ReportFormat, write_reports

from .support import sample_report

FINDINGS = 100_000
MAX_FILE_BYTES = 50 * 1024 * 1024


def _synthetic() -> tuple[Finding, ...]:
    categories = (Category.VALUE_MISMATCH, Category.MISSING_ROW, Category.EXTRA_ROW, Category.RULE_VIOLATION)
    return tuple(
        Finding(
            table=f"table_{n % 4}",
            category=categories[n % 4],
            severity=Severity.ERROR if n % 3 else Severity.WARNING,
            column="email" if n % 4 == 0 else "amount",
            key={"id": n},
            source_value=f"user{n}@example.com",
            target_value=f"user{n}@example.org",
            source_canonical=f"user{n}@example.com",
            target_canonical=f"user{n}@example.org",
            rule="trim",
            message=f"row {n} differs",
            check="integrity",
        )
        for n in range(FINDINGS)
    )


def test_a_hundred_thousand_findings(tmp_path: Path, record_property: pytest.RecordProperty) -> None:
    findings = _synthetic()
    started = time.perf_counter()
    report = sample_report(
        tables=(),
        extra_findings=findings,
        sample_limit=1000,
        column_classes={f"table_{n}": {"email": Classification.RESTRICTED} for n in range(4)},
    )
    paths = write_reports(report, directory=tmp_path)
    seconds = time.perf_counter() - started
    record_property("seconds_for_100k_findings", round(seconds, 2))

    sizes = {}
    for path in paths.values():
        for file in path.glob("*") if path.is_dir() else [path]:
            sizes[file.name] = file.stat().st_size
            assert file.stat().st_size < MAX_FILE_BYTES, f"{file.name}: {file.stat().st_size:,} bytes"
    record_property("largest_file_bytes", max(sizes.values()))
    assert json.loads(paths[ReportFormat.JSON].read_text())["findings"].__len__() == FINDINGS
    html = paths[ReportFormat.HTML].read_text()
    assert html.count('<td class="mono key">') == 1000
    assert "user0@example.com" not in html  # email rows of table_0 are masked even at this size
