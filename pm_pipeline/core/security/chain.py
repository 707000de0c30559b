"""Walking an audit log's chain: each record's hash (keyed or not) and its link to the one before.

The anchors are checked afterwards (:mod:`.anchors`); :meth:`AuditLog.verify` does both.
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path

from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.security.audit import (
    DEFAULT_KEY_ENV,
    GENESIS,
    KEYED,
    UNKEYED,
    AuditVerification,
    _digest,
    key_id,
)


def verify_chain(path: str | Path, *, key: bytes | None, key_env: str = DEFAULT_KEY_ENV) -> AuditVerification:
    """Check every record's hash and its link to the previous one (not the anchors)."""
    file = Path(path)
    if not file.exists():
        raise BadInputError(f"audit log {file} does not exist")
    own = None if key is None else key_id(key)
    walk = _Walk(key=key, own=own)
    with open(file, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            walk.last_line = number
            problem = walk.step(line, file=file, key_env=key_env)
            if problem is not None:
                return walk.result(problem, number)
    # A log written before the key was set (all records unkeyed) still verifies, so that its next
    # record can be the first keyed one; a forger who rebuilt a keyed log without the key is caught
    # by the anchors (the rebuilt head is not the anchored one).
    return walk.result(None, None)


class _Walk:
    """The state of one pass over a log's lines."""

    def __init__(self, *, key: bytes | None, own: str | None) -> None:
        self.key, self.own = key, own
        self.prev, self.count, self.keyed, self.unkeyed, self.last_line = GENESIS, 0, 0, 0, 0
        self.versioned = False

    def step(self, line: str, *, file: Path, key_env: str) -> str | None:
        try:
            record = json.loads(line)
            stated, seq, link = str(record["hash"]), int(record["seq"]), str(record["prev"])
            version = int(record.get("v", 1))
            mode = str(record.get("mac", UNKEYED))
        except (ValueError, KeyError, TypeError, AttributeError):
            return "not a valid audit record"
        if version == 1 and self.versioned:
            return "an old-format (unkeyed) record after newer ones: written by hand or forged"
        self.versioned = self.versioned or version >= 2
        if mode == KEYED:
            if self.key is None:
                raise BadInputError(
                    f"audit log {file} is keyed ({record.get('key')}): set {key_env} to its key to verify it "
                    "(without the key a forged record could not be told from a real one)"
                )
            if record.get("key") != self.own:
                if self.keyed == 0:
                    raise BadInputError(
                        f"audit log {file} is keyed with {record.get('key')} but {key_env} holds {self.own}: "
                        "set the log's key"
                    )
                return f"record keyed with {record.get('key')} after records keyed with {self.own}: forged"
            expected = _digest(record, self.key)
        elif mode == UNKEYED:
            if self.keyed:
                return "unkeyed record after keyed ones: written without the key (a forged record?)"
            expected = _digest(record)
        else:
            return f"unknown hash mode {mode!r}"
        if not hmac.compare_digest(expected, stated):
            return (
                "record was edited or forged (its keyed hash does not match the key)"
                if mode == KEYED
                else "record was edited (its hash does not match)"
            )
        if link != self.prev or seq != self.count:
            return "chain broken: a record was deleted, inserted, moved or replayed"
        self.keyed += mode == KEYED
        self.unkeyed += mode != KEYED
        self.prev, self.count = stated, self.count + 1
        return None

    def result(self, problem: str | None, line: int | None) -> AuditVerification:
        return AuditVerification(
            problem is None,
            self.count,
            self.prev,
            problem,
            line,
            keyed=self.key is not None and self.keyed > 0,
            key_id=self.own,
            unkeyed=self.unkeyed,
        )
