"""A correct migration of SETs, arrays and lists passes the whole check (schema, reconciliation, integrity), with and without a spec, in every strategy."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pm_pipeline.cli import main
from pm_pipeline.core.config.spec import MigrationSpec
from pm_pipeline.core.run import run_check

from .engines import Col, DuckSide, MySide, PgSide, Side

SETS = [(1, "a,b"), (2, "a,b,c"), (3, ""), (4, None), (5, "d e")]
SETS_AS_ARRAYS = [(1, ["b", "a"]), (2, ["a", "b", "c"]), (3, []), (4, None), (5, ["d e"])]
LISTS = [(1, [3, 1, 2], ["x", "y z"]), (2, [], []), (3, None, None), (4, [None, 7], ["é", None])]


def _check(args: list[str], out: Path) -> tuple[int, list[dict[str, Any]]]:
    with contextlib.redirect_stderr(io.StringIO()) as errors:
        code = main(["check", *args, "--json", str(out), "--no-progress"])
    assert out.exists(), errors.getvalue()
    return code, json.loads(out.read_text(encoding="utf-8"))["findings"]


def _assert_clean(source: Side, target: Side, table: str, tmp_path: Path) -> None:
    loud = []
    code, findings = _check(["--source", source.url, "--target", target.url], tmp_path / "specless.json")
    loud += [(None, f) for f in findings if f["severity"] in ("error", "warning")]
    assert code == 0, loud
    for strategy in ("arrow", "pushdown", "bucket"):
        spec = {
            "source": {"url": source.url},
            "target": {"url": target.url},
            "tables": [{"source": table, "key": ["id"], "strategy": strategy}],
            "integrity": {"checksums": True},
        }
        path = tmp_path / f"{strategy}.yaml"
        path.write_text(yaml.safe_dump(spec), encoding="utf-8")
        code, findings = _check(["--spec", str(path)], tmp_path / f"{strategy}.json")
        document = json.loads((tmp_path / f"{strategy}.json").read_text(encoding="utf-8"))
        assert document["tables"][0]["counts"]["strategy"] == strategy
        loud += [(strategy, f) for f in findings if f["severity"] in ("error", "warning")]
        assert code == 0, loud
    assert not loud
    # The same run in process: the checksum manifest was computed, and both sides agree.
    result = run_check(MigrationSpec.model_validate(spec))
    assert [entry.table for entry in result.manifest] == [table]
    assert result.manifest[0].matches, result.manifest[0]


@pytest.mark.mariadb
@pytest.mark.postgres
def test_a_mariadb_set_migrated_to_a_text_array_passes(mariadb_db: Any, pg_db: Any, tmp_path: Path) -> None:
    # The migration this family exists for: 1,000 false errors per table compared as text.
    source, target = MySide(mariadb_db.url), PgSide(pg_db.url)
    source.create("tagged", [Col("id", "int"), Col("tags", "tags")], SETS, key=["id"])
    target.create("tagged", [Col("id", "int"), Col("tags", "tags")], SETS_AS_ARRAYS, key=["id"])
    _assert_clean(source, target, "tagged", tmp_path)


@pytest.mark.postgres
def test_postgres_arrays_migrated_to_duckdb_lists_pass(pg_db: Any, tmp_path: Path) -> None:
    source, target = PgSide(pg_db.url), DuckSide(tmp_path / "t.duckdb")
    columns = [Col("id", "int"), Col("ints", "ints"), Col("tags", "tags")]
    for side in (source, target):
        side.create("listed", columns, LISTS, key=["id"])
    _assert_clean(source, target, "listed", tmp_path)
