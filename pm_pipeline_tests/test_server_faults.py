"""A PostgreSQL server of the test's own, stopped or frozen while a check reads, checks integrity or
writes its reports: exit 3 within the configured timeouts, one line naming the server and the
phase, no report set presented as complete, and a rerun gives the baseline findings."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pm_pipeline.cli import main
from pm_pipeline.core.connectors.postgres import PostgresConnector
from pm_pipeline_tests.private_postgres import PrivatePostgres, private_postgres

# Short limits keep the module fast, with room for an undisturbed statement on a loaded machine.
TIMEOUTS = {"connect": "2s", "statement": "3s", "idle": "1s"}
# Under the default limits a frozen server holds a check for 5 min to over an hour (idle 300 s,
# first answer 3,900 s): ending within a minute proves it did not hang, with room for a loaded
# machine. How fast it ends is for a benchmark; the exit code and the message naming the limit say
# which limit ended it.
NO_HANG_S = 60


@pytest.fixture(scope="module")
def server() -> Iterator[PrivatePostgres]:
    with private_postgres("pm-faults-") as instance:
        instance.sql("postgres", "CREATE DATABASE src", "CREATE DATABASE tgt")
        for database in ("src", "tgt"):
            instance.sql(
                database,
                "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL)",
                "CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric(9,2))",
                "INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 200) g",
                "INSERT INTO orders SELECT g, 1 + g % 200, g * 1.5 FROM generate_series(1, 500) g",
            )
        # A real difference, so the baseline is not an empty pass: one order's total changed.
        instance.sql("tgt", "UPDATE orders SET total = 0 WHERE id = 7")
        yield instance


@pytest.fixture
def up(server: PrivatePostgres) -> Iterator[PrivatePostgres]:
    """The server, running and thawed before and after each test."""
    if not server.running():
        server.start()
    yield server
    server.thaw()
    if not server.running():
        server.start()


def _spec(server: PrivatePostgres, folder: Path) -> Path:
    spec = folder / "spec.yaml"
    spec.write_text(
        json.dumps(
            {
                "source": {"url": server.url("src"), "timeouts": TIMEOUTS},
                "target": {"url": server.url("tgt"), "timeouts": TIMEOUTS},
                "tables": [{"source": "customers"}, {"source": "orders"}],
            }
        )
    )
    return spec


def _check(
    capsys: pytest.CaptureFixture[str], spec: Path, out: Path, *extra: str
) -> tuple[int, str, float, list[tuple[str, str, str | None]]]:
    started = time.monotonic()
    code = main(
        ["check", "--spec", str(spec), "--no-progress", "--json", str(out / "findings.json"),
         "--reports", str(out / "reports"), *extra]
    )  # fmt: skip
    elapsed = time.monotonic() - started
    _, err = capsys.readouterr()
    found = out / "findings.json"
    findings = (
        sorted(
            (f["table"], f["category"], f.get("column")) for f in json.loads(found.read_text())["findings"]
        )
        if found.exists()
        else []
    )
    return code, err, elapsed, findings


def _inject(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, fault: Callable[[], None]) -> None:
    """Make the fault happen the first time ``owner.name`` is called, just before it runs."""
    original = getattr(owner, name)
    fired: list[bool] = []

    def faulty(*args: Any, **kwargs: Any) -> Any:
        if not fired:
            fired.append(True)
            fault()
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, faulty)


_BASELINES: dict[tuple[str, ...], list[Any]] = {}


def _baseline(capsys: pytest.CaptureFixture[str], spec: Path, out: Path, *extra: str) -> list[Any]:
    """The findings of an undisturbed run: the changed total among them, exit 1."""
    code, err, _, findings = _check(capsys, spec, out, *extra)
    assert code == 1 and ("orders", "value_mismatch", "total") in findings, err
    return findings


def _first_baseline(capsys: pytest.CaptureFixture[str], spec: Path, out: Path, *extra: str) -> list[Any]:
    """The baseline of these options, run once per module (every test checks the same data)."""
    if extra not in _BASELINES:
        _BASELINES[extra] = _baseline(capsys, spec, out, *extra)
    return _BASELINES[extra]


def _one_line_failure(err: str, server: PrivatePostgres, *phrases: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert f"127.0.0.1:{server.port}" in lines[0], lines[0]
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


def _nothing_written(out: Path) -> None:
    """No report set, no findings file: nothing a reader could take for a complete run."""
    written = [path for path in out.rglob("*") if path.is_file() or path.is_symlink()] if out.exists() else []
    assert written == [], written


def test_frozen_during_a_read_ends_within_the_timeouts(
    up: PrivatePostgres, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(up, tmp_path)
    baseline = _first_baseline(capsys, spec, tmp_path / "baseline", "--no-integrity")
    with monkeypatch.context() as patch:
        _inject(patch, PostgresConnector, "stream_query", up.freeze)
        code, err, elapsed, _ = _check(capsys, spec, tmp_path / "frozen", "--no-integrity")
    up.thaw()
    assert code == 3, err
    assert elapsed < NO_HANG_S, elapsed
    # The read's first answer or its own connection, whichever waits first, runs out of time.
    _one_line_failure(err, up, "reconciliation")
    assert re.search(r"no answer .* within 2 s|cannot connect .*: timeout expired", err), err
    _nothing_written(tmp_path / "frozen")
    assert _baseline(capsys, spec, tmp_path / "rerun", "--no-integrity") == baseline


def test_stopped_during_a_read(
    up: PrivatePostgres, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(up, tmp_path)
    baseline = _first_baseline(capsys, spec, tmp_path / "baseline", "--no-integrity")
    with monkeypatch.context() as patch:
        _inject(patch, PostgresConnector, "stream_query", up.stop)
        code, err, elapsed, _ = _check(capsys, spec, tmp_path / "stopped", "--no-integrity")
    up.start()
    assert code == 3, err
    assert elapsed < NO_HANG_S, elapsed
    _one_line_failure(err, up, "reconciliation")
    _nothing_written(tmp_path / "stopped")
    assert _baseline(capsys, spec, tmp_path / "rerun", "--no-integrity") == baseline


def test_stopped_during_integrity(
    up: PrivatePostgres, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pm_pipeline.core.run as run

    spec = _spec(up, tmp_path)
    baseline = _first_baseline(capsys, spec, tmp_path / "baseline")
    with monkeypatch.context() as patch:
        _inject(patch, run, "check_integrity", up.stop)
        code, err, elapsed, _ = _check(capsys, spec, tmp_path / "stopped")
    up.start()
    assert code == 3, err
    assert elapsed < NO_HANG_S, elapsed
    _one_line_failure(err, up, "integrity")
    _nothing_written(tmp_path / "stopped")
    assert _baseline(capsys, spec, tmp_path / "rerun") == baseline


def test_stopped_while_the_reports_are_written(
    up: PrivatePostgres, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pm_pipeline.cli.check_run as check_run

    spec = _spec(up, tmp_path)
    baseline = _first_baseline(capsys, spec, tmp_path / "baseline")
    with monkeypatch.context() as patch:
        # Every value was read before the reports: they are built from the results alone.
        _inject(patch, check_run, "check_report", up.stop)
        code, err, _, findings = _check(capsys, spec, tmp_path / "stopped")
    up.start()
    assert (code, findings) == (1, baseline), err
    assert "Traceback" not in err


def test_stopped_during_a_declared_expectation_suite(
    up: PrivatePostgres, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from great_expectations.execution_engine.sqlalchemy_execution_engine import SqlAlchemyExecutionEngine

    spec = tmp_path / "spec.yaml"
    spec.write_text(
        json.dumps(
            {
                "source": {"url": up.url("src"), "timeouts": TIMEOUTS},
                "target": {"url": up.url("tgt"), "timeouts": TIMEOUTS},
                "tables": [{"source": "customers"}],  # identical on both sides: a clean run passes
                "integrity": {
                    "expectations": {
                        "customers": [
                            {"type": "expect_column_values_to_not_be_null", "column": "name"},
                            {"type": "expect_column_values_to_be_between", "column": "id", "min_value": 1},
                            {"type": "expect_column_values_to_be_unique", "column": "id"},
                        ]
                    }
                },
            }
        )
    )
    with monkeypatch.context() as patch:
        # Lost while Great Expectations computes its metrics: once a traceback per expectation.
        _inject(patch, SqlAlchemyExecutionEngine, "resolve_metrics", up.stop)
        code, err, elapsed, _ = _check(capsys, spec, tmp_path / "stopped")
    up.start()
    assert code == 3, err
    assert elapsed < NO_HANG_S, elapsed
    _one_line_failure(err, up, "no longer answers", "declared expectation suite")
    _nothing_written(tmp_path / "stopped")
    code, err, _, findings = _check(capsys, spec, tmp_path / "rerun")
    assert (code, findings) == (0, []), err


def test_timeouts_given_on_the_command_line_end_a_frozen_read(
    up: PrivatePostgres, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No spec: without --timeout the defaults would wait an hour and five minutes.
    limits = [f"--timeout={name}={value}" for name, value in TIMEOUTS.items()]
    with monkeypatch.context() as patch:
        _inject(patch, PostgresConnector, "stream_query", up.freeze)
        started = time.monotonic()
        code = main(["check", "--source", up.url("src"), "--target", up.url("tgt"), "--tables", "customers",
                     "--no-integrity", "--no-progress", "--json", str(tmp_path / "out" / "findings.json"),
                     *limits])  # fmt: skip
        elapsed = time.monotonic() - started
    up.thaw()
    _, err = capsys.readouterr()
    assert code == 3, err
    assert elapsed < NO_HANG_S, elapsed
    _one_line_failure(err, up, "reconciliation")
    assert re.search(r"no answer .* within 2 s|cannot connect .*: timeout expired", err), err
    _nothing_written(tmp_path / "out")


def test_frozen_during_integrity_ends_within_the_timeouts(
    up: PrivatePostgres, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pm_pipeline.core.run as run

    spec = _spec(up, tmp_path)
    with monkeypatch.context() as patch:
        # Integrity asks on the connector's own connection (psycopg): the watchdog cuts it.
        _inject(patch, run, "check_integrity", up.freeze)
        code, err, elapsed, _ = _check(capsys, spec, tmp_path / "frozen")
    up.thaw()
    assert code == 3, err
    assert elapsed < NO_HANG_S, elapsed
    _one_line_failure(err, up, "integrity")
    assert re.search(r"no answer|cannot connect .*: timeout expired", err), err
    _nothing_written(tmp_path / "frozen")


def test_a_frozen_server_cut_off_on_the_metadata_connection(up: PrivatePostgres) -> None:
    from pm_pipeline.core.connectors import Timeouts, connect
    from pm_pipeline.core.connectors.base import NoAnswerFailure

    with connect(up.url("src"), timeouts=Timeouts(connect=2, statement=1, idle=1)) as connector:
        assert connector.execute("SELECT 1") == [(1,)]
        up.freeze()
        started = time.monotonic()
        try:
            with pytest.raises(NoAnswerFailure, match=r"no answer .*within 2 s"):
                connector.execute("SELECT count(*) FROM customers")
            # The probe after an error waits only the idle limit, and says the server is gone.
            assert not connector.answers()
        finally:
            up.thaw()
        assert time.monotonic() - started < NO_HANG_S
