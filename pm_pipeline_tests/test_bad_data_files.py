"""Data files that are not what their URL says (a text file named .parquet, a truncated footer, a
part file among good ones) are bad input: exit 2 naming the file, no traceback, no output."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pm_pipeline_tests.test_bad_input import EXIT_BAD_INPUT, _outputs, _run, _sqlite, assert_clean

GOOD = pa.table({"id": [1, 2], "name": ["a", "b"]})


def _text_file(path: Path) -> None:
    path.write_text("id,name\n1,a\n")


def _truncated(path: Path) -> None:
    pq.write_table(GOOD, path)
    path.write_bytes(path.read_bytes()[:-12] + b"PAR1")


def _tiny(path: Path) -> None:
    path.write_bytes(b"PAR1")


@pytest.mark.parametrize(
    "spoil",
    [
        # A CSV export renamed .parquet by a script: once a system failure (exit 3).
        pytest.param(_text_file, id="text-named-parquet"),
        # A copy cut short: the footer length points outside the file.
        pytest.param(_truncated, id="truncated-footer"),
        # An empty placeholder left by a failed export.
        pytest.param(_tiny, id="too-small"),
    ],
)
@pytest.mark.parametrize("layout", ["file", "folder-of-parts"])
def test_a_file_that_is_not_parquet_is_bad_input_naming_it(
    spoil: object, layout: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    if layout == "file":
        bad = data / "items.parquet"
        url = f"parquet:///{bad}"
    else:
        (data / "items").mkdir()
        pq.write_table(GOOD, data / "items" / "part-0.parquet")
        bad = data / "items" / "part-1.parquet"
        url = f"parquet:///{data}"
    spoil(bad)  # type: ignore[operator]
    target = _sqlite(tmp_path / "t.db", "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
    code, out, err = _run(capsys, "check", "--source", url, "--target", target, *_outputs(tmp_path))
    assert_clean(
        code, out, err, tmp_path, expected=EXIT_BAD_INPUT, names=[str(bad), "not a readable Parquet file"]
    )
    assert err.count("\n") == 1, err
