"""Every readable form of every byte under a folder, for leak tests: raw bytes, and what a reader
gets out of the containers the product and Dagster write (zip members such as XLSX, PDF text,
Parquet rows, SQLite rows, gzip, and unpickled objects walked to their leaves)."""

from __future__ import annotations

import dataclasses
import gzip
import io
import pickle
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def files_under(*roots: Path) -> list[Path]:
    found = [root for root in roots if root.is_file()]
    found += [p for root in roots if root.is_dir() for p in root.rglob("*") if p.is_file()]
    return sorted(found)


def readable_forms(path: Path) -> Iterator[str]:
    """The file's bytes decoded leniently, then each decoded container form."""
    data = path.read_bytes()
    yield from _forms(data, path)


def _forms(data: bytes, path: Path) -> Iterator[str]:
    yield data.decode("utf-8", errors="replace")
    yield data.decode("utf-16-le", errors="replace")
    if data.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                yield from _forms(archive.read(name), path / name)
    elif data.startswith(b"\x1f\x8b"):
        yield from _forms(gzip.decompress(data), path)
    elif data.startswith(b"%PDF"):
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True).stdout
        yield text.decode("utf-8", errors="replace")
    elif data.startswith(b"PAR1"):
        import pyarrow.parquet as pq

        yield repr(pq.read_table(io.BytesIO(data)).to_pylist())
    elif data.startswith(b"SQLite format 3\x00"):
        yield from _sqlite_rows(path)
    elif data[:1] == b"\x80":
        try:
            value = pickle.loads(data)  # files the test's own run wrote
        except Exception:  # not a pickle after all: its bytes were searched above
            return
        yield "\n".join(_leaves(value, depth=0))


def _sqlite_rows(path: Path) -> Iterator[str]:
    # Long rows spill over pages, so a value may be split in the raw bytes: read the rows.
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        yield "\n".join(conn.iterdump())


def _leaves(value: Any, *, depth: int) -> Iterable[str]:
    if depth > 40:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes | bytearray):
        yield bytes(value).decode("utf-8", errors="replace")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(key, depth=depth + 1)
            yield from _leaves(item, depth=depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _leaves(item, depth=depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _leaves(getattr(value, field.name), depth=depth + 1)
    elif hasattr(value, "write_csv"):  # a polars frame
        yield value.write_csv()
    elif hasattr(value, "to_pylist"):  # an Arrow table or array
        yield repr(value.to_pylist())
    elif hasattr(value, "to_csv"):  # a pandas frame
        yield value.to_csv()
    elif hasattr(value, "model_dump"):  # a pydantic model
        yield from _leaves(value.model_dump(), depth=depth + 1)
    elif hasattr(value, "__dict__"):
        yield from _leaves(vars(value), depth=depth + 1)
    else:
        yield repr(value)


def hits(needles: Iterable[str], *roots: Path) -> list[str]:
    """'<file>: <needle>' for every needle found in any readable form of any file under the roots."""
    wanted = [n for n in needles if n]
    found: list[str] = []
    for path in files_under(*roots):
        for text in readable_forms(path):
            found += [f"{path}: {needle!r}" for needle in wanted if needle in text]
    return sorted(set(found))


def text_hits(needles: Iterable[str], text: str, where: str) -> list[str]:
    return [f"{where}: {needle!r}" for needle in needles if needle and needle in text]
