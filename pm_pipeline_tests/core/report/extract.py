"""Text extraction from XLSX and PDF outputs, so tests compare content rather than bytes."""

from __future__ import annotations

import re
import textwrap
import zipfile
from pathlib import Path
from xml.etree import ElementTree

_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def xlsx_text(path: Path) -> str:
    """Every sheet as 'cell<TAB>value' lines, sheets in workbook order."""
    with zipfile.ZipFile(path) as book:
        shared: list[str] = []
        if "xl/sharedStrings.xml" in book.namelist():
            root = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
            shared = [
                "".join(t.text or "" for t in si.iter(f"{{{_NS['m']}}}t")) for si in root.findall("m:si", _NS)
            ]
        workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
        names = [sheet.get("name") for sheet in workbook.find("m:sheets", _NS) or []]
        lines: list[str] = []
        for index, name in enumerate(names, start=1):
            lines.append(f"## {name}")
            sheet = ElementTree.fromstring(book.read(f"xl/worksheets/sheet{index}.xml"))
            for c in sheet.iter(f"{{{_NS['m']}}}c"):
                v = c.find("m:v", _NS)
                inline = c.find("m:is", _NS)
                if c.get("t") == "s" and v is not None:
                    value = shared[int(v.text or "0")]
                elif inline is not None:
                    value = "".join(t.text or "" for t in inline.iter(f"{{{_NS['m']}}}t"))
                elif v is not None:
                    value = v.text or ""
                else:
                    continue
                lines.append(f"{c.get('r')}\t{value}")
    return "\n".join(lines) + "\n"


def xlsx_raw(path: Path) -> str:
    """Every part of the workbook as text, for searching anything it stores anywhere."""
    with zipfile.ZipFile(path) as book:
        return "\n".join(book.read(name).decode("utf-8", "replace") for name in book.namelist())


def pdf_pages(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(path).pages]


def pdf_text(path: Path) -> str:
    """Page texts with white space collapsed, so font metrics that move line breaks do not matter."""
    out = []
    for number, page in enumerate(pdf_pages(path), start=1):
        words = re.sub(r"\s+", " ", page).strip()
        out.append(f"## page {number}\n" + textwrap.fill(words, width=100, break_on_hyphens=False))
    return "\n".join(out) + "\n"
