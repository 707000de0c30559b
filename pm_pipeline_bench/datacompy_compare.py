"""datacompy (Polars backend) on two DuckDB files; run by the datacompy virtualenv's Python.

This file imports nothing from pm_pipeline: the bench runs it as a script in its own virtualenv
(datacompy pins its own Polars). Usage:
``python datacompy_compare.py SOURCE.duckdb TARGET.duckdb OUT REL_TOLERANCE``, where REL_TOLERANCE
is pm-pipeline's default relative float tolerance (applied to ``unit_price`` only, as pm-pipeline
applies one to floats only); writes ``{"missing": [ids], "extra": [ids], "changed": [ids]}`` to OUT.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import datacompy
import duckdb
import polars as pl


def _read(path: str) -> pl.DataFrame:
    connection = duckdb.connect(path, read_only=True)
    try:
        connection.execute("SET enable_progress_bar = false")
        frame: pl.DataFrame = connection.sql("SELECT * FROM orders").pl()
        return frame
    finally:
        connection.close()


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    source_path, target_path, out, tolerance = argv
    rel_tol = {"unit_price": float(tolerance), "default": 0.0}
    compare = datacompy.PolarsCompare(
        _read(source_path), _read(target_path), join_columns="id", rel_tol=rel_tol
    )
    result = {
        "missing": compare.df1_unq_rows["id"].to_list(),
        "extra": compare.df2_unq_rows["id"].to_list(),
        "changed": compare.all_mismatch()["id"].to_list(),
    }
    Path(out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
