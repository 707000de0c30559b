"""Anchors of an audit log's head, kept outside the log: a small file and, optionally, a PostgreSQL row.

A log alone cannot show that records were removed from its end, or that the whole file was
rebuilt (unkeyed): both leave a valid chain. Each append copies the head (the chain's first hash,
the last sequence number and hash) to every anchor, so verification compares the log's head with
what was anchored. An anchor is only as good as its separation from the log: put the file where
the log's writers cannot write, or use the table.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.security.audit import KEYED

if TYPE_CHECKING:
    from pm_pipeline.core.security.audit import AuditConfig, AuditLog, AuditRecord, AuditVerification


@dataclass(frozen=True)
class Anchor:
    chain: str
    seq: int
    head: str


class AnchorStore(Protocol):
    kind: str

    def describe(self) -> str: ...

    def write(self, *, chain: str, seq: int, head: str, record: Mapping[str, Any] | None = None) -> None: ...

    def read(self, *, chain: str | None) -> Anchor | None: ...

    def first_difference(self, *, chain: str, hashes: Sequence[str]) -> str | None:
        """Why the log's records differ from the copy the store keeps, or None (also without a copy)."""
        ...


class FileAnchor:
    """The head as one JSON document, replaced atomically after each record."""

    kind = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def describe(self) -> str:
        return f"anchor file {self.path}"

    def write(self, *, chain: str, seq: int, head: str, record: Mapping[str, Any] | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"chain": chain, "seq": seq, "head": head, "at": dt.datetime.now(dt.UTC).isoformat()}
        scratch = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        scratch.write_text(json.dumps(document, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(scratch, self.path)

    def read(self, *, chain: str | None) -> Anchor | None:
        if not self.path.exists():
            return None
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            return Anchor(str(document["chain"]), int(document["seq"]), str(document["head"]))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise BadInputError(
                f"{self.describe()}: not an audit anchor (expected chain, seq and head)"
            ) from None

    def first_difference(self, *, chain: str, hashes: Sequence[str]) -> str | None:
        return None  # the file keeps the head only


def default_anchor_file(log: Path) -> Path:
    return log.with_name(log.name + ".anchor.json")


def anchor_stores(log: Path, config: AuditConfig) -> list[AnchorStore]:
    stores: list[AnchorStore] = []
    if config.file_anchor:
        stores.append(
            FileAnchor(Path(config.anchor_file) if config.anchor_file else default_anchor_file(log))
        )
    if config.anchor_url:
        from pm_pipeline.core.security.pg_store import PostgresStore

        stores.append(PostgresStore(config.anchor_url, log=log))
    return stores


def _compare(anchor: Anchor, *, chain: str | None, seq: int, head: str) -> str | None:
    """Why the log's head is not the anchored one, or None when it is."""
    if chain is None:
        return f"the log is empty but its head was anchored at record {anchor.seq}: every record was removed"
    if anchor.chain != chain:
        return (
            "anchored for another chain (its first record differs): the log was replaced or rebuilt "
            "from its first record"
        )
    if anchor.seq > seq:
        return (
            f"the log ends at record {seq} but its head was anchored at record {anchor.seq}: "
            f"{anchor.seq - seq} record(s) were removed from the end"
        )
    if anchor.seq < seq:
        return (
            f"{seq - anchor.seq} record(s) after the anchored head (record {anchor.seq}) were never "
            "anchored: appended by someone bypassing pm-pipeline (or a write was interrupted)"
        )
    if anchor.head != head:
        return f"record {seq} is not the one anchored (its hash differs): the chain was rebuilt"
    return None


def check_anchors(log: AuditLog, chain: AuditVerification) -> AuditVerification:
    """``chain`` (an intact chain) checked against every anchor the log is configured with or claims."""
    first: str | None = None
    claimed: tuple[str, ...] = ()
    hashes: list[str] = []
    last: AuditRecord | None = None
    for record in log.records():
        first = first or record.hash
        claimed = record.anchors
        hashes.append(record.hash)
        last = record
    stores = anchor_stores(log.path, log.config)
    notes: list[str] = []
    warnings: list[str] = []
    missing = sorted(set(claimed) - {store.kind for store in stores})
    if missing:
        problem = (
            f"the log's head was anchored in {', '.join(missing)}, which is not given here "
            "(name it in the spec's audit section or on the command line)"
        )
        return replace(chain, ok=False, problem=problem, line=chain.records)
    for store in stores:
        anchor = store.read(chain=first)
        if anchor is None:
            if store.kind not in claimed:  # a log written before anchoring, or not yet written to
                notes.append(f"{store.describe()}: nothing anchored yet (the next record anchors the head)")
                continue
            problem = (
                f"{store.describe()}: no anchor of this log's head: deleted, or anchoring was set up after "
                "the last record (the next record anchors it)"
            )
            return replace(chain, ok=False, problem=problem, line=chain.records)
        interrupted = chain.keyed and last is not None and is_interrupted_append(anchor, last)
        why = (
            None
            if interrupted
            else _compare(anchor, chain=first, seq=chain.records - 1, head=chain.last_hash)
        )
        if why is None and first is not None:
            why = store.first_difference(chain=first, hashes=hashes)
        if why is not None:
            return replace(chain, ok=False, problem=f"{store.describe()}: {why}", line=chain.records or None)
        if interrupted:
            warnings.append(
                f"{store.describe()}: record {anchor.seq + 1} was written but not anchored (an append "
                "interrupted between the log and its anchor); its keyed hash and link are valid, and the "
                "next record anchors it"
            )
        else:
            notes.append(f"{store.describe()}: head (record {anchor.seq}) matches")
    if not stores:
        notes.append("no anchor: records removed from the end cannot be detected")
    return replace(chain, anchors=tuple(notes), warnings=tuple(warnings))


def is_interrupted_append(anchor: Anchor, last: AuditRecord) -> bool:
    """Whether the log is one keyed record past its anchor, chained to the anchored head: what an
    append killed (or an anchor store down) between writing the record and anchoring it leaves.
    Only a keyed record counts, checked under the key before this is asked: without the key nobody
    can write one, so it is no bypass; an unkeyed record past the anchor could be anyone's."""
    return last.mac == KEYED and anchor.seq == last.seq - 1 and anchor.head == last.prev
