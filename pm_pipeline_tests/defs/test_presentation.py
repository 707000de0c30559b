"""How assets and checks read in the UI: match scores as percentages that never round a difference
away, engine kinds from URLs, owners from the spec (refused when malformed), observations only of
tables that were compared, and the `make ui` launcher's refusals before it starts anything."""

from __future__ import annotations

import socket
from pathlib import Path

import dagster as dg
import pytest

from pm_pipeline.core.check_errors import unreconciled
from pm_pipeline.core.config.loader import spec_from_mapping
from pm_pipeline.core.errors import SpecError
from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.defs.presentation import check_metadata, engine_kind, observations, owners, percent
from pm_pipeline.devserver import EXIT_BAD_INPUT, main

SPEC = {
    "source": {"url": "sqlite:///a.db"},
    "target": {"url": "duckdb:///b.duckdb"},
    "tables": [{"source": "t"}],
}


@pytest.mark.parametrize(
    ("score", "shown"),
    [
        (1.0, "100.0000 %"),
        (0.995833, "99.5833 %"),
        # One cell wrong in a million still shows as a difference, never as 100 %.
        (0.9999996, "99.9999 %"),
        (0.0, "0.0000 %"),
    ],
)
def test_match_scores_read_as_percentages(score: float, shown: str) -> None:
    assert percent(score) == shown


def test_only_the_match_score_of_a_check_becomes_a_percentage() -> None:
    shown = check_metadata({"match_score": 0.5, "changed_rows": 3, "findings": 1})
    assert shown == {"match_score": "50.0000 %", "changed_rows": 3, "findings": 1}


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("postgresql://app@db/shop", "postgres"),
        ("postgresql+psycopg://app@db/shop", "postgres"),
        ("mariadb://root@db/shop", "mariadb"),
        ("mysql://root@db/shop", "mysql"),
        ("duckdb:///x.duckdb", "duckdb"),
        ("sqlite:////abs/x.db", "sqlite"),
        ("parquet:///dir", "parquet"),
        ("data/*.csv", "files"),
    ],
)
def test_engine_kinds_come_from_the_url_scheme(url: str, kind: str) -> None:
    assert engine_kind(url) == kind


def test_owners_come_from_the_spec_or_name_the_migration_team() -> None:
    assert owners(spec_from_mapping({**SPEC, "name": "shop-move"})) == ["team:shop-move"]
    named = spec_from_mapping({**SPEC, "owners": ["team:data-platform", "alice@example.com"]})
    assert owners(named) == ["team:data-platform", "alice@example.com"]


@pytest.mark.parametrize("owner", ["alice", "team:", "team:two words", "@example.com"])
def test_a_malformed_owner_is_refused_by_name(owner: str) -> None:
    with pytest.raises(
        SpecError, match=r"<spec>: owners: owner .* is neither an e-mail address nor team:<name>"
    ):
        spec_from_mapping({**SPEC, "owners": [owner]})


def test_a_table_not_compared_is_not_observed_as_empty() -> None:
    error = Finding(
        table="t",
        category=Category.CHECK_ERROR,
        severity=Severity.ERROR,
        message="boom",
        check="reconciliation",
    )
    result = unreconciled(table="t", target_table="t", error=error)
    keys = {"source": dg.AssetKey(["source", "t"]), "target": dg.AssetKey(["target", "t"])}
    assert observations(**keys, result=result, observer="run x") == []


def test_the_launcher_refuses_a_busy_port_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text("load_from: []\n", encoding="utf-8")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--port", str(port), "--workspace", str(workspace)]) == EXIT_BAD_INPUT
    assert f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["--port", "70000"], "not a TCP port"), (["--workspace", "nowhere.yaml"], "nowhere.yaml not found")],
)
def test_the_launcher_names_a_bad_argument(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(arguments) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err


def test_the_demo_instance_shows_no_sign_up_pop_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pm_pipeline.demo.run import _instance

    # `pm-pipeline demo` run before `make ui` writes the home that the UI then shows.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with _instance() as instance:
        assert instance.nux_enabled is False
        assert instance.telemetry_enabled is False
