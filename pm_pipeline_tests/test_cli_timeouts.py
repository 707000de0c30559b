"""``check --timeout NAME=DURATION``: a malformed override is bad input naming the option, before
anything is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from pm_pipeline_tests.test_bad_input import EXIT_BAD_INPUT, _outputs, _run, _sqlite, assert_clean


@pytest.mark.parametrize(
    ("option", "names"),
    [
        # A limit that does not exist would silently leave the real one at its default.
        pytest.param("stmt=10s", ["--timeout", "connect, statement, idle"], id="unknown-name"),
        pytest.param("idle", ["--timeout", "NAME=DURATION"], id="no-duration"),
        pytest.param("idle=soon", ["--timeout idle", "expected a duration"], id="not-a-duration"),
        pytest.param("statement=-5s", ["--timeout statement", "0 (no limit) or more"], id="negative"),
    ],
)
def test_a_malformed_timeout_is_bad_input(
    option: str, names: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ddl = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)"
    source, target = _sqlite(tmp_path / "s.db", ddl), _sqlite(tmp_path / "t.db", ddl)
    code, out, err = _run(
        capsys, "check", "--source", source, "--target", target, "--timeout", option, *_outputs(tmp_path)
    )
    assert_clean(code, out, err, tmp_path, expected=EXIT_BAD_INPUT, names=names)
