"""The migration spec loader: env references, unknown keys, wrong types, every error naming file and key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from pm_pipeline.core.config import load_spec, spec_checksum, spec_from_mapping
from pm_pipeline.core.config.durations import parse_duration
from pm_pipeline.core.config.spec import Classification
from pm_pipeline.core.errors import SpecError

GOOD = """
name: shop
source: {url: "mysql://app:${SRC_PASS}@127.0.0.1/shop", timezone: Europe/Paris}
target: {url: "postgresql://postgres@127.0.0.1/shop"}
tables:
  - source: Customers
    target: customers
    key: [id]
    renames: {email_address: email}
    ignore: [legacy_flag]
    columns:
      email_address: {case_insensitive: true, classification: confidential}
      balance: {abs_tolerance: 0.005}
      created: {timestamp_tolerance: 1s, zero_date: "null"}
      payload: {json: true}
thresholds: {max_missing_rows: 2, tolerated_categories: [index_missing]}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "migration.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_complete_spec_loads_with_env_secret(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, GOOD), environ={"SRC_PASS": "pw"})
    mapping = spec.mapping_for("Customers")
    assert spec.source.url == "mysql://app:pw@127.0.0.1/shop"
    assert mapping.target_name == "customers"
    assert mapping.columns["email_address"].classification is Classification.CONFIDENTIAL
    assert mapping.columns["payload"].as_json is True
    assert mapping.columns["created"].timestamp_tolerance_delta is not None
    assert spec.thresholds.max_missing_rows == 2


def test_checksum_is_of_the_file_as_written_not_the_secret(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    before = spec_checksum(path)
    load_spec(path, environ={"SRC_PASS": "another"})
    assert spec_checksum(path) == before


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        # A typo must not silently disable an option.
        (
            GOOD.replace("case_insensitive", "case_insensitiv"),
            "tables[0].columns.email_address.case_insensitiv",
            "unknown key",
        ),
        (
            GOOD.replace("abs_tolerance: 0.005", "abs_tolerance: lots"),
            "tables[0].columns.balance.abs_tolerance",
            "number",
        ),
        (GOOD.replace("Europe/Paris", "Mars/Olympus"), "source.timezone", "IANA time zone"),
        (
            GOOD.replace("timestamp_tolerance: 1s", "timestamp_tolerance: soon"),
            "tables[0].columns.created.timestamp_tolerance",
            "duration",
        ),
        (GOOD.replace("name: shop", "name: shop\nversion: 7"), "version", "1"),
        (
            GOOD.replace('target: {url: "postgresql://postgres@127.0.0.1/shop"}\n', ""),
            "target",
            "required key is missing",
        ),
    ],
)
def test_bad_specs_name_file_path_and_expectation(
    tmp_path: Path, text: str, where: str, problem: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_spec(path, environ={"SRC_PASS": "pw"})
    assert caught.value.path == where
    assert problem in caught.value.problem
    assert str(path) in str(caught.value)


def test_missing_env_var_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"source\.url: environment variable SRC_PASS is not set"):
        load_spec(_write(tmp_path, GOOD), environ={})


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"line 3, column 1: not valid YAML"):
        load_spec(_write(tmp_path, "source: {url: x}\ntarget: [unclosed\n"))


def test_no_tables_without_discover_is_an_error() -> None:
    with pytest.raises(SpecError, match="no tables"):
        spec_from_mapping({"source": {"url": "a://"}, "target": {"url": "b://"}})


def test_duplicate_table_mapping_is_an_error() -> None:
    with pytest.raises(SpecError, match="mapped twice"):
        spec_from_mapping(
            {"source": {"url": "a"}, "target": {"url": "b"}, "tables": [{"source": "t"}, {"source": "t"}]}
        )


def test_durations() -> None:
    assert parse_duration("500ms").total_seconds() == 0.5
    assert parse_duration("2h").total_seconds() == 7200
    assert parse_duration(3).total_seconds() == 3
    with pytest.raises(ValueError):
        parse_duration("1 fortnight")
