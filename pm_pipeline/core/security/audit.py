"""An append-only, hash-chained audit log: JSON lines, each record carrying the SHA-256 of the previous one.

Any edit, deletion or reordering of a record breaks the chain and is found by
:func:`verify_audit_log`. Removing records from the end cannot be seen from the file alone; keep
the last hash (:attr:`AuditVerification.last_hash`) somewhere else to detect that too.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pm_pipeline.core.errors import BadInputError

GENESIS = "0" * 64


def _digest(record: dict[str, Any]) -> str:
    body = {key: value for key, value in record.items() if key != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: str
    event: str
    actor: str
    data: dict[str, Any]
    prev: str
    hash: str


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of checking a log: ``ok`` with the record count, or the first broken line and why."""

    ok: bool
    records: int
    last_hash: str
    problem: str | None = None
    line: int | None = None


class AuditLog:
    """Appends records to one JSON-lines file; an exclusive file lock keeps concurrent writers in order."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, event: str, *, actor: str = "system", data: dict[str, Any] | None = None) -> AuditRecord:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(0)
                last: dict[str, Any] | None = None
                for line in handle:
                    if line.strip():
                        last = json.loads(line)
                record: dict[str, Any] = {
                    "seq": 0 if last is None else int(last["seq"]) + 1,
                    "at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
                    "event": event,
                    "actor": actor,
                    "data": data or {},
                    "prev": GENESIS if last is None else str(last["hash"]),
                }
                record["hash"] = _digest(record)
                handle.seek(0, os.SEEK_END)
                handle.write(json.dumps(record, sort_keys=True, ensure_ascii=False, default=str) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return AuditRecord(**record)

    def records(self) -> Iterator[AuditRecord]:
        """The records in order. Call :func:`verify_audit_log` first when they must be trusted."""
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield AuditRecord(**json.loads(line))


def verify_audit_log(path: str | Path) -> AuditVerification:
    """Check every record's hash and its link to the previous one. A missing file is a BadInputError."""
    file = Path(path)
    if not file.exists():
        raise BadInputError(f"audit log {file} does not exist")
    prev = GENESIS
    count = 0
    with open(file, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                stated = str(record["hash"])
                seq = int(record["seq"])
                link = str(record["prev"])
            except (ValueError, KeyError, TypeError):
                return AuditVerification(False, count, prev, "not a valid audit record", number)
            if _digest(record) != stated:
                return AuditVerification(
                    False, count, prev, "record was edited (its hash does not match)", number
                )
            if link != prev or seq != count:
                return AuditVerification(
                    False, count, prev, "chain broken: a record was deleted, inserted or moved", number
                )
            prev = stated
            count += 1
    return AuditVerification(True, count, prev)
