"""Recompute a checksum manifest against the live databases and report every table that moved."""

from __future__ import annotations

from collections.abc import Mapping

from pm_pipeline.core.connectors import connect
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.errors import TableNotFoundError
from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.core.integrity.checksum import read_manifest, recompute

CHECK = "integrity"


def verify_manifest(path: str, *, urls: Mapping[str, str] | None = None) -> list[Finding]:
    """Recompute every checksum in the manifest at ``path``; one finding per side that differs.

    The manifest stores masked URLs. ``urls`` maps a side ("source", "target") or a recorded masked
    URL to the URL to connect with (with its secret); without it the recorded URL is used as is,
    which works for databases that need no password.
    """
    document = read_manifest(path)
    overrides = dict(urls or {})
    open_connectors: dict[str, Connector] = {}
    findings: list[Finding] = []
    try:
        for entry in document["tables"]:
            for side in ("source", "target"):
                recorded = entry[side]
                url = overrides.get(side) or overrides.get(recorded["url"]) or recorded["url"]
                connector = open_connectors.get(url)
                if connector is None:
                    connector = open_connectors[url] = connect(url)
                try:
                    now = recompute(connector, recorded)
                except TableNotFoundError as exc:
                    findings.append(_finding(entry["table"], side, recorded, None, str(exc)))
                    continue
                if now.checksum != recorded["checksum"] or now.rows != recorded["rows"]:
                    findings.append(_finding(entry["table"], side, recorded, (now.rows, now.checksum), ""))
    finally:
        for connector in open_connectors.values():
            connector.close()
    return findings


def _finding(
    table: str, side: str, recorded: dict[str, object], now: tuple[int, str] | None, problem: str
) -> Finding:
    if now is None:
        message = f"{side} table {recorded['table']} cannot be checksummed again: {problem}"
        current: object = None
    else:
        message = (
            f"{side} table {recorded['table']} changed since the manifest was written: "
            f"{recorded['rows']} rows, checksum {str(recorded['checksum'])[:16]}... then; "
            f"{now[0]} rows, checksum {now[1][:16]}... now"
        )
        current = now[1]
    return Finding(
        table=table,
        category=Category.CHECKSUM_MISMATCH,
        severity=Severity.ERROR,
        source_value=str(recorded["checksum"]),
        target_value=None if current is None else str(current),
        rule=f"manifest {side}",
        message=message,
        check=CHECK,
    )
