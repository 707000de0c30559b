"""Run ``pm-pipeline check`` in process on a gallery pair and judge its findings JSON.

``clean_failures`` lists what a correct migration must never produce (an error or a warning, a
check that could not finish, a verdict other than ``pass``); ``defect_failures`` lists seeded
defects that were not reported where they are, errors that are neither a seeded defect nor marked
as caused by one, and a verdict other than ``fail``.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pm_pipeline.cli import main

from .dataset import Dataset, Kind, snake_case
from .defects import Defect
from .render import Naming


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    findings: tuple[dict[str, Any], ...]
    stderr: str = ""  # the CLI's one-line error when the check could not run
    verdict: Mapping[str, Any] | None = None  # the findings JSON's one verdict


def run_cli(args: Sequence[str], *, out: Path) -> Outcome:
    """The CLI's own ``main``: the exit code is what a user gets. No JSON means the run stopped."""
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        code = main(["check", *args, "--json", str(out), "--no-progress"])
    if not out.exists():
        return Outcome(exit_code=code, findings=(), stderr=errors.getvalue())
    document = json.loads(out.read_text(encoding="utf-8"))
    verdict = document.get("verdict")
    return Outcome(
        exit_code=code,
        findings=tuple(document["findings"]),
        stderr=errors.getvalue(),
        verdict=verdict if isinstance(verdict, dict) else {"state": verdict},
    )


def _stopped(outcome: Outcome, *, state: str) -> list[str]:
    """A run that stopped, a check that could not finish, or a verdict other than ``state``."""
    if outcome.exit_code not in (0, 1):
        return [f"the check stopped with exit code {outcome.exit_code}: {outcome.stderr.strip()[-600:]}"]
    problems = [
        "could not finish: " + describe(f) for f in outcome.findings if f["category"] == "check_error"
    ]
    verdict = outcome.verdict or {}
    if verdict.get("state") != state or verdict.get("incomplete_checks"):
        problems.append(
            f"verdict {verdict.get('state')!r} ({state!r} expected), "
            f"incomplete checks {verdict.get('incomplete_checks')}"
        )
    return problems


def check_specless(source_url: str, target_url: str, *, out: Path) -> Outcome:
    return run_cli(["--source", source_url, "--target", target_url], out=out)


def check_with_spec(spec: Mapping[str, Any], *, folder: Path, name: str) -> Outcome:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(dict(spec), sort_keys=False, allow_unicode=True), encoding="utf-8")
    return run_cli(["--spec", str(path)], out=folder / f"{name}.json")


def careful_spec(
    data: Dataset, *, source: str, target: str, source_url: str, target_url: str, naming: Naming
) -> dict[str, Any]:
    """The spec a careful user writes: every table and rename, keys, JSON and zero-date columns,
    and the business and temporal rules the data must keep (integrity names are target names)."""
    total_rule: dict[str, Any] = {
        "name": "total_is_sum_of_items",
        "kind": "aggregate",
        "table": "orders",
        "key": ["order_id"],
        "value": "total",
        "child_table": "order_items",
        "child_key": ["order_id"],
        "child_value": "quantity * unit_price",
    }
    if target == "sqlite":
        # SQLite stores DECIMAL values as doubles: a sum in its SQL carries float noise.
        total_rule["tolerance"] = 0.005
    tables = []
    for table in data.tables:
        rules: dict[str, Any] = {}
        for column in table.columns:
            if column.kind is Kind.JSON:
                rules[naming.column(column)] = {"json": True}
            elif column.kind in (Kind.DATE, Kind.DATETIME) and source == "mariadb":
                rules[naming.column(column)] = {"zero_date": "null"}
        renames = {
            naming.column(c): c.target_name for c in table.columns if naming.column(c) != c.target_name
        }
        entry: dict[str, Any] = {
            "source": naming.table(table),
            "target": table.target_name,
            "key": [naming.column(n) for n in table.key],
        }
        if renames:
            entry["renames"] = renames
        if rules:
            entry["columns"] = rules
        tables.append(entry)
    return {
        "version": 1,
        "name": f"gallery-{source}",
        "source": {"url": source_url},
        "target": {"url": target_url},
        "tables": tables,
        "integrity": {
            "rules": [
                {"name": "quantity_positive", "table": "order_items", "check": "quantity > 0"},
                total_rule,
            ],
            "temporal": [
                {"table": "customers", "created": "created_at", "columns": ["last_login"]},
                {"table": "orders", "created": "ordered_at", "updated": "updated_at"},
            ],
            "cutover_at": "2025-06-01T00:00:00Z",
        },
    }


def describe(finding: Mapping[str, Any]) -> str:
    caused = f" caused_by={finding['caused_by']}" if finding.get("caused_by") else ""
    return (
        f"{finding['severity']} {finding['category']} [{finding['check']}] "
        f"{finding['table']}.{finding['column']} key={finding['key']}{caused}: {finding['message'][:300]}"
    )


def clean_failures(outcome: Outcome) -> list[str]:
    """Why a correct migration did not pass: a crash, exit code, and every error or warning."""
    problems = _stopped(outcome, state="pass") + [
        describe(f) for f in outcome.findings if f["severity"] in ("error", "warning")
    ]
    if outcome.exit_code != 0:
        problems.insert(0, f"exit code {outcome.exit_code} (0 expected)")
    return problems


def _key_matches(found: Mapping[str, Any] | None, expected: Mapping[str, Any]) -> bool:
    # Key column names may be given in source or target naming; the names and values must agree.
    if not expected or found is None:
        return not found and not expected
    return {snake_case(k): str(v) for k, v in found.items()} == {
        snake_case(k): str(v) for k, v in expected.items()
    }


def _reports(finding: Mapping[str, Any], defect: Defect) -> bool:
    return (
        finding["category"] == defect.category
        and finding["table"] == defect.table
        and finding["column"] == defect.column
        and _key_matches(finding["key"], defect.key)
    )


def defect_failures(outcome: Outcome, defects: Sequence[Defect], *, naming: Naming) -> list[str]:
    """Seeded defects not reported at their table, column and key; errors with no seeded cause."""
    problems = _stopped(outcome, state="fail")
    if outcome.exit_code != 1:
        problems.append(f"exit code {outcome.exit_code} (1 expected: differences found)")
    renamed = [
        Defect(
            d.category,
            naming_table(d.table, naming),
            naming_column(d.column, naming),
            {naming_column(k, naming): v for k, v in d.key.items()},
            d.why,
        )
        for d in defects
    ]
    for defect in renamed:
        where = f"{defect.category} {defect.table}.{defect.column} key={dict(defect.key)} ({defect.why})"
        if not any(_reports(f, defect) for f in outcome.findings):
            problems.append(f"not reported: {where}")
        counted = [f for f in outcome.findings if _reports(f, defect) and not f.get("caused_by")]
        if len(counted) > 1:  # one defect is one error; a repeat must name its cause
            problems.append(f"counted {len(counted)} times: {where}: " + " | ".join(map(describe, counted)))
    for finding in outcome.findings:
        if finding["severity"] != "error" or finding.get("caused_by"):
            continue
        if not any(_reports(finding, defect) for defect in renamed):
            problems.append("unexplained: " + describe(finding))
    return problems


def naming_table(name: str, naming: Naming) -> str:
    return snake_case(name) if naming.snake else name


def naming_column(name: str | None, naming: Naming) -> Any:
    return None if name is None else naming.column(name)
