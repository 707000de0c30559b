"""A check stopped by an SQL error on real PostgreSQL becomes a check_error finding: the other checks
and tables still run, every report is written, and the exit code says incomplete (3) or fail (1);
a lost server still ends the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pm_pipeline.cli import main
from pm_pipeline.core.check_errors import Unit, guarded, reason
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.errors import SystemFailure

from ..conftest import PgDatabase

TABLES = (
    "CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL)",
    "CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer REFERENCES customers(id), total numeric(10,2))",
    "INSERT INTO customers SELECT i, 'customer ' || i FROM generate_series(1, 6) i",
    "INSERT INTO orders SELECT i, 1 + i % 6, i * 10.5 FROM generate_series(1, 12) i",
)
BROKEN_RULES = [
    {"name": "typo", "table": "orders", "check": "total >"},  # a syntax error
    {"name": "gone", "table": "orders", "check": "discount >= 0"},  # a column the target lacks
    {"name": "positive", "table": "orders", "check": "total > 0"},  # a sound rule next to them
]


def _spec(tmp_path: Path, source: PgDatabase, target: PgDatabase) -> Path:
    document: dict[str, Any] = {
        "version": 1,
        "name": "check-errors",
        "source": {"url": source.url},
        "target": {"url": target.url},
        "tables": [{"source": "customers"}, {"source": "orders"}],
        "integrity": {"gx": {"enabled": False}, "rules": BROKEN_RULES},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def _run(tmp_path: Path, pg_db: PgDatabase, pg_db2: PgDatabase) -> tuple[int, dict[str, Any], Path]:
    reports = tmp_path / "reports"
    code = main(
        ["check", "--spec", str(_spec(tmp_path, pg_db, pg_db2)), "--reports", str(reports), "--no-progress"]
    )
    return (
        code,
        json.loads((reports / "latest" / "findings.json").read_text(encoding="utf-8")),
        reports / "latest",
    )


def _check_errors(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["rule"]: f for f in document["findings"] if f["category"] == "check_error"}


def test_sql_errors_in_rules_leave_the_run_incomplete_with_every_report(
    pg_db: PgDatabase, pg_db2: PgDatabase, tmp_path: Path
) -> None:
    pg_db.execute(*TABLES)
    pg_db2.execute(*TABLES)
    code, document, reports = _run(tmp_path, pg_db, pg_db2)
    assert code == 3
    errors = _check_errors(document)
    assert set(errors) == {"rule typo", "rule gone"}
    assert errors["rule typo"]["table"] == "orders" and errors["rule typo"]["check"] == "integrity"
    assert "syntax error" in errors["rule typo"]["message"]
    assert "discount" in errors["rule gone"]["message"]
    assert document["verdict"]["state"] == "incomplete"
    assert document["verdict"]["readiness"] == "incomplete"
    assert sorted(document["verdict"]["incomplete_checks"]) == [
        "integrity: rule gone on orders",
        "integrity: rule typo on orders",
    ]
    # Nothing else was lost: the sound rule, the checksums and both reconciliations ran clean.
    others = [f for f in document["findings"] if f["category"] != "check_error"]
    assert [f for f in others if f["severity"] in ("error", "warning")] == []
    assert {t["table"] for t in document["tables"] if t["counts"]} == {"customers", "orders"}
    manifest = json.loads((reports / "checksum-manifest.json").read_text(encoding="utf-8"))
    assert {entry["table"] for entry in manifest["tables"]} == {"customers", "orders"}
    for name in ("report.html", "executive-summary.html", "summary.md"):
        assert (reports / name).stat().st_size > 0, name
    assert "Incomplete" in (reports / "executive-summary.html").read_text(encoding="utf-8")


def test_a_difference_next_to_a_check_error_fails_the_run(
    pg_db: PgDatabase, pg_db2: PgDatabase, tmp_path: Path
) -> None:
    pg_db.execute(*TABLES)
    pg_db2.execute(*TABLES, "DELETE FROM orders WHERE id = 4")
    code, document, _ = _run(tmp_path, pg_db, pg_db2)
    assert code == 1
    assert document["verdict"]["state"] == "fail"
    assert set(_check_errors(document)) == {"rule typo", "rule gone"}
    missing = [f for f in document["findings"] if f["category"] == "missing_row"]
    assert [(f["table"], f["key"]) for f in missing] == [("orders", {"id": 4})]


def test_a_lost_server_still_ends_the_run(pg_db: PgDatabase) -> None:
    with connect(pg_db.url) as target, pytest.raises(SystemFailure):
        guarded(
            Unit("integrity", "rule suicide", "orders"),
            lambda: target.execute("SELECT pg_terminate_backend(pg_backend_pid())"),
            connectors=(target,),
        )


def test_the_database_message_is_password_free() -> None:
    # Drivers sometimes echo the connection string they were given.
    error = RuntimeError("could not connect to postgresql://app:s3cret@db:5432/shop\nDETAIL: more")
    text = reason(error, secrets=["s3cret"])
    assert "s3cret" not in text and "DETAIL" not in text
    assert "postgresql://app:***@db:5432/shop" in text


def test_a_spec_naming_a_column_the_target_never_had_is_bad_input(
    pg_db: PgDatabase, pg_db2: PgDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A user mistake, not a check that failed: exit 2 with the column named, no traceback.
    pg_db.execute(*TABLES)
    pg_db2.execute(*TABLES)
    document = yaml.safe_load(_spec(tmp_path, pg_db, pg_db2).read_text(encoding="utf-8"))
    document["integrity"] = {
        "gx": {"enabled": False},
        "temporal": [{"table": "orders", "columns": ["shipped_at"]}],
    }
    spec = tmp_path / "typo.yaml"
    spec.write_text(yaml.safe_dump(document), encoding="utf-8")
    assert main(["check", "--spec", str(spec), "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert "shipped_at" in error and "Traceback" not in error
