"""Parquet and CSV files as read-only tables (``parquet:///dir``, ``csv:///dir``, ``file:///data.parquet``).

An in-memory DuckDB connection holds one view per table over ``read_parquet``/``read_csv`` (both
built into DuckDB), so the pushdown SQL written for DuckDB runs on files too. Table names:

* a single file -> one table named by its stem (``orders.parquet`` -> ``orders``);
* a directory -> one table per ``*.parquet``/``*.csv`` file in it (stem), plus one per
  subdirectory holding data files at any depth (Hive-style ``year=2024/part-0.parquet``: all parts
  unioned, partition columns added from the folder names), named by the subdirectory;
* a glob -> one table per distinct file stem (files with the same stem in different folders are
  unioned), except that part files (``part-00000``, ``data_0``, ``0001``, a UUID) form one table
  named by the folder that holds them. Part files directly in the given directory are treated
  the same way.

``parquet:`` URLs read ``.parquet`` files, ``csv:`` URLs ``.csv`` files and ``file:`` URLs both.
CSV column types are inferred by DuckDB's sniffer (``all_varchar=false``); a column whose values
have leading zeros (``00123``) stays VARCHAR, so codes and zip codes keep their zeros.
"""

from __future__ import annotations

import contextlib
import glob
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from pm_pipeline.core.connectors.base import DEFAULT_TIMEOUTS, ConnectionUrl, Timeouts
from pm_pipeline.core.connectors.duckdb import DuckDbConnector, duckdb_column
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.dialects.files import FilesDialect
from pm_pipeline.core.errors import BadInputError, ConnectionFailure, TableNotFoundError

_SUFFIXES = {"parquet": (".parquet",), "csv": (".csv",), "file": (".parquet", ".csv")}
_PART_FILE = re.compile(
    r"^(part|data|chunk)[-_.]?\d+([-_.].*)?$|^\d+$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    re.IGNORECASE,
)


def discover_tables(path: str, *, suffixes: tuple[str, ...]) -> dict[str, list[Path]]:
    """Map table name -> the data files it unions, following the naming rules of this module."""
    matches: list[Path]
    if glob.has_magic(path):
        matches = sorted(Path(p) for p in glob.glob(path, recursive=True) if Path(p).is_file())
        matches = [p for p in matches if p.suffix.lower() in suffixes]
    else:
        root = Path(path)
        if root.is_file():
            return {root.stem: [root]}
        if not root.is_dir():
            raise BadInputError(f"data path {root} does not exist")
        tables: dict[str, list[Path]] = {}
        matches = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        for sub in sorted(p for p in root.iterdir() if p.is_dir()):
            parts = sorted(p for p in sub.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            if parts:
                tables[sub.name] = parts
        for name, files in _group(matches).items():
            _add(tables, name, files, path)
        if not tables:
            raise BadInputError(f"data directory {root} holds no {'/'.join(suffixes)} files")
        return tables
    if not matches:
        raise BadInputError(f"data glob {path} matches no {'/'.join(suffixes)} files")
    result: dict[str, list[Path]] = {}
    for name, files in _group(matches).items():
        _add(result, name, files, path)
    return result


def _group(files: list[Path]) -> dict[str, list[Path]]:
    groups: dict[str, list[Path]] = {}
    for file in files:
        if _PART_FILE.match(file.stem):
            folder = file.parent.resolve()
            while "=" in folder.name and folder.parent != folder:  # Hive partition folders: key=value
                folder = folder.parent
            name = folder.name
        else:
            name = file.stem
        groups.setdefault(name, []).append(file)
    return groups


def _add(tables: dict[str, list[Path]], name: str, files: list[Path], path: str) -> None:
    if name in tables:
        raise BadInputError(f"data path {path}: two sources would both be table {name!r}; rename one")
    kinds = {f.suffix.lower() for f in files}
    if len(kinds) > 1:
        raise BadInputError(f"data path {path}: table {name!r} mixes {' and '.join(sorted(kinds))} files")
    tables[name] = files


def _not_data(name: str, paths: list[Path], url: ConnectionUrl, exc: Exception) -> str:
    """The message for a data file DuckDB cannot read as its kind: it names the file."""
    reason = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    reason = re.sub(r"^Invalid Input Error: ", "", reason)
    named = [p for p in paths if str(p) in str(exc) or p.name in str(exc)]
    kind = "CSV" if paths[0].suffix.lower() == ".csv" else "Parquet"
    files = ", ".join(str(p) for p in (named or paths)[:3]) + ("" if len(named or paths) <= 3 else ", ...")
    return f"{url.masked}: table {name!r}: {files} is not a readable {kind} file ({reason})"


class FilesConnector(DuckDbConnector):
    engine = "files"
    dialect = FilesDialect()

    def __init__(self, url: ConnectionUrl, *, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> None:
        if not url.path:
            raise BadInputError(f"connection URL {url.masked}: expected {url.scheme}:///path/to/dir-or-file")
        self.url = url
        self.timeouts = timeouts
        self.schema_name = "main"
        self.path = ":memory:"
        self.files = discover_tables(url.path, suffixes=_SUFFIXES.get(url.scheme, _SUFFIXES["file"]))
        self._conn = None
        conn = self._connection()
        for name, paths in self.files.items():
            # A list of files is accepted at run time; older stubs of read_csv declare one path.
            sources: Any = [str(p) for p in paths]
            try:
                if paths[0].suffix.lower() == ".csv":
                    relation = conn.read_csv(
                        sources,
                        all_varchar=False,
                        union_by_name=len(sources) > 1,
                    )
                else:
                    relation = conn.read_parquet(sources, hive_partitioning=True, union_by_name=True)
                relation.create_view(name, replace=False)
            except duckdb.IOException as exc:
                self.close()
                raise ConnectionFailure(f"cannot read table {name!r} from {url.masked}: {exc}") from exc
            except duckdb.Error as exc:
                # Not an I/O failure: the bytes are there and are not what the URL says they are.
                self.close()
                raise BadInputError(_not_data(name, paths, url, exc)) from None

    def server_version(self) -> str:
        kinds = sorted({p.suffix.lower() for paths in self.files.values() for p in paths})
        label = {".parquet": "Parquet", ".csv": "CSV"}
        return f"{'/'.join(label[k] for k in kinds)} files (DuckDB {duckdb.__version__})"

    def describe(self) -> str:
        return f"files at {self.url.masked}"

    def list_tables(self) -> list[str]:
        return sorted(self.files)

    def introspect(self, table: str) -> TableSchema:
        if table not in self.files:
            raise TableNotFoundError(
                f"table {table!r} not found among {self.describe()}: {sorted(self.files)}"
            )
        rows = self.execute(f"DESCRIBE SELECT * FROM {self.qualified(table)}")
        return TableSchema(
            name=table,
            columns=tuple(duckdb_column(str(r[0]), str(r[1])) for r in rows),
            extra={"files": ", ".join(str(p) for p in self.files[table])},
        )

    csv_sample_bytes = 2**20  # CSV files larger than this are estimated from a sample of their lines

    def estimate_rows(self, table: str) -> int | None:
        if table not in self.files:
            raise TableNotFoundError(
                f"table {table!r} not found among {self.describe()}: {sorted(self.files)}"
            )
        files = self.files[table]
        if files[0].suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return sum(int(pq.read_metadata(str(path)).num_rows) for path in files)
        if sum(path.stat().st_size for path in files) <= self.csv_sample_bytes * len(files):
            return self.row_count(table)
        # Large CSV: the line density of each file's first bytes, scaled to its size (the header
        # line is left out).
        total = 0
        for path in files:
            with path.open("rb") as handle:
                sample = handle.read(self.csv_sample_bytes)
            lines = max(sample.count(b"\n"), 1)
            total += max(round(path.stat().st_size * lines / len(sample)) - 1, 0)
        return total

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        raise BadInputError(f"{self.describe()} are read-only; a rollback cannot write to files")
        yield  # pragma: no cover
