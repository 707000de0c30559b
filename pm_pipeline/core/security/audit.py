"""An append-only, hash-chained audit log: JSON lines, each record carrying the hash of the previous one.

Version 2 records are keyed: their hash is an HMAC-SHA256 under a secret key read from the
environment (``AuditConfig.key_env``), so someone who edits a record cannot rebuild the chain, and
a record appended by someone without the key does not verify. Without a key the chain is plain
SHA-256 and detects accidental damage only: anyone can rebuild it. After every record the head
(sequence number and hash) is copied to anchors outside the log (:mod:`.anchors`), so removing
records from the end, or rebuilding the whole file, is detected too. Version 1 records (no ``v``,
plain SHA-256, no anchors) written before keys existed are still read and verified.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pm_pipeline.core.errors import BadInputError, IntegrityRefusal

GENESIS = "0" * 64
RECORD_VERSION = 2
KEYED, UNKEYED = "hmac-sha256", "sha256"
DEFAULT_KEY_ENV = "PM_AUDIT_KEY"
MIN_KEY_BYTES = 16


def _canonical(record: dict[str, Any]) -> bytes:
    body = {key: value for key, value in record.items() if key != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return text.encode()


def _digest(record: dict[str, Any], key: bytes | None = None) -> str:
    if key is None:
        return hashlib.sha256(_canonical(record)).hexdigest()
    return hmac.new(key, _canonical(record), hashlib.sha256).hexdigest()


def key_id(key: bytes) -> str:
    """A short public name of a key: tells which key wrote a record without revealing it."""
    return "k-" + hashlib.sha256(b"pm-pipeline audit key id\0" + key).hexdigest()[:16]


@dataclass(frozen=True)
class AuditConfig:
    """Where the key comes from and where the head is anchored. The key is read when used, never stored."""

    key_env: str = DEFAULT_KEY_ENV
    require_key: bool = False
    anchor_file: str | None = None  # default: ``<log>.anchor.json`` beside the log
    file_anchor: bool = True
    anchor_url: str | None = None  # PostgreSQL: table pm_audit_anchors

    def key(self) -> bytes | None:
        value = os.environ.get(self.key_env)
        if not value:
            if self.require_key:
                raise BadInputError(
                    f"the audit log must be keyed (audit.require_key) but the environment variable "
                    f"{self.key_env} is not set"
                )
            return None
        key = value.encode()
        if len(key) < MIN_KEY_BYTES:
            raise BadInputError(
                f"the audit key in {self.key_env} is {len(key)} bytes long; use at least {MIN_KEY_BYTES} "
                "random bytes (e.g. `openssl rand -hex 32`)"
            )
        return key


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: str
    event: str
    actor: str
    data: dict[str, Any]
    prev: str
    hash: str
    v: int = 1
    origin: str = ""
    mac: str = UNKEYED
    key: str | None = None
    anchors: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> AuditRecord:
        values = dict(record)
        values["anchors"] = tuple(values.get("anchors", ()))
        return cls(**values)


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of checking a log: ``ok`` with the record count, or the first broken line and why.

    ``keyed`` says whether the records were checked against the key (``key_id``); ``unkeyed``
    counts the records written before a key was used; ``anchors`` says what each anchor showed;
    ``warnings`` name what verifies but needs the next record (an append interrupted before its
    anchor)."""

    ok: bool
    records: int
    last_hash: str
    problem: str | None = None
    line: int | None = None
    keyed: bool = False
    key_id: str | None = None
    unkeyed: int = 0
    anchors: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)


class AuditLog:
    """Appends records to one JSON-lines file; an exclusive file lock keeps concurrent writers in order."""

    def __init__(self, path: str | Path, *, config: AuditConfig | None = None, origin: str = "api") -> None:
        self.path = Path(path)
        self.config = config or AuditConfig()
        self.origin = origin  # where actions come from: cli, dagster:sensor, dagster:schedule, dagster:ui

    def anchor_stores(self) -> list[Any]:
        from pm_pipeline.core.security.anchors import anchor_stores

        return anchor_stores(self.path, self.config)

    def append(
        self,
        event: str,
        *,
        actor: str = "system",
        data: dict[str, Any] | None = None,
        origin: str | None = None,
    ) -> AuditRecord:
        key = self.config.key()
        stores = self.anchor_stores()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                first, last = _ends(self.path)
                if last is not None and last.get("mac") == KEYED:
                    self._require_same_key(last, key)
                    _reanchor(stores, chain=str((first or last)["hash"]), last=last, key=key)
                record: dict[str, Any] = {
                    "v": RECORD_VERSION,
                    "seq": 0 if last is None else int(last["seq"]) + 1,
                    "at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
                    "event": event,
                    "actor": actor,
                    "origin": origin or self.origin,
                    "data": data or {},
                    "prev": GENESIS if last is None else str(last["hash"]),
                    "mac": UNKEYED if key is None else KEYED,
                    "key": None if key is None else key_id(key),
                    "anchors": sorted(store.kind for store in stores),
                }
                record["hash"] = _digest(record, key)
                handle.seek(0, os.SEEK_END)
                handle.write(json.dumps(record, sort_keys=True, ensure_ascii=False, default=str) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
                chain = str((first or record)["hash"])
                for store in stores:  # under the lock: anchors follow the log in the same order
                    store.write(chain=chain, seq=int(record["seq"]), head=str(record["hash"]), record=record)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return AuditRecord.from_json(record)

    def require_writable(self) -> None:
        """Fail now, not after the work it records, when a record could not be appended: no key or
        another one, or a log that fails verification (a record chained after a broken one would
        prove nothing)."""
        key = self.config.key()
        if not self.path.exists():
            return
        verification = self.verify()
        if not verification.ok:
            raise IntegrityRefusal(
                f"audit log {self.path}: line {verification.line}: {verification.problem}; nothing was done. "
                f"Repair or move the log, then check it with `pm-pipeline audit verify {self.path}`"
            )
        _, last = _ends(self.path)
        if last is not None and last.get("mac") == KEYED:
            self._require_same_key(last, key)

    def _require_same_key(self, last: dict[str, Any], key: bytes | None) -> None:
        # Continuing a keyed chain without its key would let anyone extend it: refuse instead.
        if key is None:
            raise BadInputError(
                f"audit log {self.path} is keyed ({last.get('key')}): set {self.config.key_env} to its key "
                "to write to it"
            )
        if last.get("key") != key_id(key):
            raise BadInputError(
                f"audit log {self.path} is keyed with {last.get('key')} but {self.config.key_env} holds "
                f"{key_id(key)}: set the log's key"
            )

    def records(self) -> Iterator[AuditRecord]:
        """The records in order. Call :meth:`verify` first when they must be trusted."""
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield AuditRecord.from_json(json.loads(line))

    def verify(self, *, anchors: bool = True) -> AuditVerification:
        """Check every record's hash (keyed when the key is set) and link, then the head against the anchors."""
        from pm_pipeline.core.security.anchors import check_anchors
        from pm_pipeline.core.security.chain import verify_chain

        chain = verify_chain(self.path, key=self.config.key(), key_env=self.config.key_env)
        if not chain.ok or not anchors:
            return chain
        return check_anchors(self, chain)


def _reanchor(stores: list[Any], *, chain: str, last: dict[str, Any], key: bytes | None) -> None:
    """Anchor the last record where an interrupted append left it unanchored, so that a store
    keeping every record (PostgreSQL) holds it too, before the next record is anchored."""
    from pm_pipeline.core.security.anchors import is_interrupted_append

    record = AuditRecord.from_json(last)
    if key is None or not hmac.compare_digest(_digest(last, key), record.hash):
        return  # not a record of this key's: verification names it, anchoring would launder it
    for store in stores:
        anchor = store.read(chain=chain)
        if anchor is not None and is_interrupted_append(anchor, record):
            store.write(chain=chain, seq=record.seq, head=record.hash, record=last)


def _ends(path: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The first and last records, read from both ends: an append costs the same on a long log."""
    with open(path, "rb") as stream:
        first = next((line for line in stream if line.strip()), None)
        if first is None:
            return None, None
        end = stream.seek(0, os.SEEK_END)
        tail = b""
        position = end
        while position > 0:
            step = min(1 << 16, position)
            position -= step
            stream.seek(position)
            tail = stream.read(step) + tail
            lines = [line for line in tail.split(b"\n") if line.strip()]
            if len(lines) > 1 or (lines and position == 0):
                break
        return json.loads(first), json.loads(lines[-1])


def verify_audit_log(path: str | Path, *, config: AuditConfig | None = None) -> AuditVerification:
    """Verify the log at ``path``: chain, key and anchors. A missing file is a BadInputError."""
    return AuditLog(path, config=config).verify()


def open_audit_log(log: str | Path | AuditLog) -> AuditLog:
    """``log`` itself, or the log at that path under the default configuration (key from PM_AUDIT_KEY)."""
    return log if isinstance(log, AuditLog) else AuditLog(log)
