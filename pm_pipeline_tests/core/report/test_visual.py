"""The HTML renders offline in headless Chromium and the PDFs rasterise with pdftoppm, to non-blank PNGs.

The PNGs are kept in pytest's temporary directory (or PM_REPORT_SCREENSHOTS if set) for a person
to look at. Without chromium/pdftoppm the tests skip, unless PM_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from pm_pipeline.core.report import ReportData, ReportFormat, write_reports

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Any reference the browser would fetch from the network; the reports must need none.
REMOTE = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|@import|url\(\s*["']?(?:https?:)?//""", re.I
)


def _tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    reason = f"{' or '.join(names)} is not installed (apt-get install -y chromium poppler-utils)"
    if os.environ.get("PM_REQUIRE_SERVICES") == "1":
        pytest.fail(f"PM_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("PM_REPORT_SCREENSHOTS", tmp_path / "png"))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _assert_not_blank(png: Path) -> None:
    image = Image.open(png).convert("L")
    assert image.width > 200 and image.height > 200, png
    histogram = image.histogram()
    ink = sum(histogram[:200])  # pixels clearly darker than the white page
    assert ink > 0.005 * image.width * image.height, f"{png} is (nearly) blank"


def _chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    chromium = _tool("chromium", "chromium-browser", "google-chrome")
    command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("fmt", [ReportFormat.HTML, ReportFormat.EXECUTIVE_HTML])
def test_html_screenshot_is_not_blank(
    report: ReportData, tmp_path: Path, shots: Path, fmt: ReportFormat
) -> None:
    page = write_reports(report, directory=tmp_path / "out", formats=[fmt])[fmt]
    png = shots / f"{page.stem}.png"
    done = _chromium(["--window-size=1280,2400", f"--screenshot={png}", page.as_uri()], tmp_path)
    assert png.exists(), done.stderr[-2000:]
    _assert_not_blank(png)


def test_html_needs_no_network_and_its_script_runs(report: ReportData, tmp_path: Path) -> None:
    page = write_reports(report, directory=tmp_path / "out", formats=["html"])[ReportFormat.HTML]
    html = page.read_text()
    assert not REMOTE.search(html), REMOTE.search(html)
    done = _chromium(["--dump-dom", page.as_uri()], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    # The inline sort/filter script marks the document when it has wired every table.
    assert 'data-tables-ready="1"' in done.stdout
    # customers: by column and by category; accounts and orders: by category only.
    assert done.stdout.count('<svg class="chart"') == 4


@pytest.mark.parametrize("fmt", [ReportFormat.EXECUTIVE_PDF, ReportFormat.EVIDENCE_PDF])
def test_pdf_pages_rasterise_to_non_blank_png(
    report: ReportData, tmp_path: Path, shots: Path, fmt: ReportFormat
) -> None:
    pdftoppm = _tool("pdftoppm")
    pdf = write_reports(report, directory=tmp_path / "out", formats=[fmt])[fmt]
    subprocess.run([pdftoppm, "-r", "80", "-png", str(pdf), str(shots / pdf.stem)], check=True, timeout=120)
    pngs = sorted(shots.glob(f"{pdf.stem}-*.png"))
    assert pngs
    if fmt is ReportFormat.EXECUTIVE_PDF:
        assert len(pngs) == 1
    for png in pngs:
        _assert_not_blank(png)
