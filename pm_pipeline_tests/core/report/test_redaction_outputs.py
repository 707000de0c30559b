"""No value of a column classified above the clearance appears in any written file, in any format."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pm_pipeline.core.config.spec import Classification
from pm_pipeline.core.report import RedactionMode, ReportFormat, write_reports

from .extract import pdf_pages, xlsx_raw
from .support import SECRET_VALUES, sample_report


def _all_text(paths: dict[ReportFormat, Path]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for fmt, path in paths.items():
        files = sorted(path.glob("*")) if path.is_dir() else [path]
        for file in files:
            if file.suffix == ".pdf":
                texts[file.name] = "\n".join(pdf_pages(file))
            elif file.suffix == ".xlsx":
                texts[file.name] = xlsx_raw(file)
            elif file.suffix == ".parquet":
                texts[file.name] = pq.read_table(file).to_pandas().to_csv()
            else:
                texts[file.name] = file.read_text(encoding="utf-8")
        assert files, fmt
    return texts


@pytest.mark.parametrize("mode", [RedactionMode.FIXED, RedactionMode.HMAC])
def test_restricted_values_appear_in_no_format(tmp_path: Path, mode: RedactionMode) -> None:
    report = sample_report(redaction=mode, redaction_key=b"test-key")
    texts = _all_text(write_reports(report, directory=tmp_path))
    assert len(texts) >= 15
    for name, text in texts.items():
        for secret in SECRET_VALUES:
            assert secret.strip() not in text, f"{secret!r} leaked into {name}"
        assert "s3cret" not in text, f"a password leaked into {name}"
    marker = "***" if mode is RedactionMode.FIXED else "hmac:"
    assert marker in texts["findings.json"] and marker in texts["report.html"]


def test_the_same_values_do_appear_when_clearance_allows_them(tmp_path: Path) -> None:
    # Proves the search above can find them: with restricted clearance nothing is masked.
    report = sample_report(clearance=Classification.RESTRICTED)
    texts = _all_text(write_reports(report, directory=tmp_path))
    for name in ("findings.json", "report.html", "report.xlsx", "value_mismatch.csv", "findings.parquet"):
        assert "alice@example.org" in texts[name], name
    assert "DE89370400440532013000" in texts["missing_row.csv"]
