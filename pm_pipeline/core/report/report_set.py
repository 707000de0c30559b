"""Report sets: every file of one run, published whole or not at all, under the run's own folder.

A run stages its files in a private hidden folder (0700) next to where the set will live, writes a
manifest of every file's SHA-256 last, and renames the folder into place as ``<root>/<run id>``:
a rename within one file system is atomic, so a reader (or a run killed with SIGKILL) sees the old
sets and either the whole new one or none of it. ``<root>/latest`` is a symbolic link to the
newest published set, replaced atomically too, so CI can read ``<root>/latest/findings.json``
while several runs write into ``<root>`` at once: each run owns its folder, none waits for or
deletes another's files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import secrets
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pm_pipeline.core.config.spec import Classification
from pm_pipeline.core.digest.files import file_sha256
from pm_pipeline.core.errors import BadInputError, SystemFailure

MANIFEST_NAME = "manifest.json"
MANIFEST_KIND = "pm-pipeline report set"
MANIFEST_VERSION = 1
LATEST = "latest"
_STAGING_SUFFIX = ".partial"
_LOCK_NAME = ".latest.lock"
_umask_lock = threading.Lock()


def new_run_id(now: dt.datetime | None = None, *, suffix: str | None = None) -> str:
    """A run id that sorts by start time and stays unique across concurrent runs; ``suffix``
    (letters, digits and dashes: another system's run id) replaces the random part."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    tail = secrets.token_hex(3) if suffix is None else "".join(c for c in suffix if c.isalnum() or c == "-")
    return f"{moment:%Y%m%dT%H%M%S}{moment.microsecond // 1000:03d}Z-{tail or secrets.token_hex(3)}"


@dataclass(frozen=True)
class StagedSet:
    """A report set being written: ``directory`` is private to this run until it is published."""

    root: Path
    run_id: str
    directory: Path

    @property
    def destination(self) -> Path:
        return self.root / self.run_id


@contextmanager
def staged_report_set(*, root: Path, run_id: str) -> Iterator[StagedSet]:
    """Stage a set under ``root``; on an exception remove what this run staged, and nothing else.

    The caller writes its files into ``StagedSet.directory`` and calls :func:`publish_report_set`."""
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise BadInputError(f"report set run id {run_id!r}: not a folder name")
    created = [folder for folder in (root, *root.parents) if not folder.exists()]
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = root / f".{run_id}{_STAGING_SUFFIX}"
        staging.mkdir(mode=0o700)
        staging.chmod(0o700)  # mkdir's mode passes through the umask
    except OSError as exc:
        raise SystemFailure(f"cannot create a report set in {root}: {exc.strerror or exc}") from exc
    staged = StagedSet(root=root, run_id=run_id, directory=staging)
    try:
        yield staged
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:  # the folders this run created for its set, if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def publish_report_set(staged: StagedSet, *, metadata: dict[str, Any] | None = None) -> Path:
    """Write the manifest last, move the set into place and point ``latest`` at it if it is newest."""
    manifest = manifest_document(staged.directory, run_id=staged.run_id, metadata=metadata or {})
    try:
        with (staged.directory / MANIFEST_NAME).open("w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        _open_up(staged.directory)
        os.rename(staged.directory, staged.destination)
        _point_latest(staged.root, staged.run_id)
    except OSError as exc:
        raise SystemFailure(
            f"cannot publish the report set {staged.destination}: {exc.strerror or exc}"
        ) from exc
    return staged.destination


def manifest_document(directory: Path, *, run_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """Every file under ``directory`` (but the manifest) with its size and SHA-256, in path order."""
    files = [
        {
            "path": path.relative_to(directory).as_posix(),
            "bytes": path.stat().st_size,
            "sha256": file_sha256(path),
        }
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.relative_to(directory).as_posix() != MANIFEST_NAME
    ]
    return {
        "kind": MANIFEST_KIND,
        "manifest_version": MANIFEST_VERSION,
        "run_id": run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        **metadata,
        "files": files,
    }


def _open_up(directory: Path) -> None:
    """Give the finished set the permissions the user's umask grants new folders."""
    with _umask_lock:  # reading the umask means setting it; no other thread may create files meanwhile
        mask = os.umask(0o077)
        os.umask(mask)
    directory.chmod(0o777 & ~mask)


def _point_latest(root: Path, run_id: str) -> None:
    """Point ``root/latest`` at ``run_id`` unless a newer run already published: run ids sort by
    start time, so ``latest`` never moves back when runs finish out of order."""
    with (root / _LOCK_NAME).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        latest = root / LATEST
        current = os.readlink(latest) if latest.is_symlink() else None
        if latest.exists() and not latest.is_symlink():
            return  # a file or folder of the user's named 'latest': never replaced
        if current is not None and current > run_id:
            return
        link = root / f".{LATEST}.{run_id}"
        link.unlink(missing_ok=True)
        link.symlink_to(run_id)
        os.replace(link, latest)


@dataclass(frozen=True)
class SetProblem:
    path: str
    problem: str


def is_report_set_manifest(path: Path) -> bool:
    """Whether ``path`` (a file, or a folder holding one) is a report set's manifest."""
    manifest = path / MANIFEST_NAME if path.is_dir() else path
    try:
        with manifest.open(encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and document.get("kind") == MANIFEST_KIND


def verify_report_set(path: Path) -> tuple[dict[str, Any], list[SetProblem]]:
    """Recompute every file's SHA-256 against the set's manifest: files changed, missing or added.

    ``path`` is the set's folder, its manifest, or a root whose ``latest`` points at a set."""
    manifest = path / MANIFEST_NAME if path.is_dir() else path
    if path.is_dir() and not manifest.exists() and (path / LATEST / MANIFEST_NAME).exists():
        manifest = path / LATEST / MANIFEST_NAME
    try:
        document = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        audiences = [
            f"{path / a / LATEST}" for a in Classification if (path / a / LATEST / MANIFEST_NAME).exists()
        ]
        hint = f" (it holds one set per audience: name one, e.g. {audiences[0]})" if audiences else ""
        raise BadInputError(f"{manifest}: no report set manifest there{hint}") from None
    except ValueError as exc:
        raise BadInputError(f"{manifest}: not a report set manifest ({exc})") from None
    if not isinstance(document, dict) or document.get("kind") != MANIFEST_KIND:
        raise BadInputError(f"{manifest}: not a report set manifest (no 'kind: {MANIFEST_KIND}')")
    directory = manifest.parent
    problems: list[SetProblem] = []
    listed: set[str] = set()
    for name, digest in _entries(document, manifest=manifest):
        listed.add(name)
        file = directory / name
        if not file.is_file():
            problems.append(SetProblem(name, "missing"))
        elif not file.resolve().is_relative_to(directory.resolve()):
            problems.append(SetProblem(name, "a link to a file outside the set"))
        elif file_sha256(file) != digest:
            problems.append(SetProblem(name, f"SHA-256 differs from the manifest ({digest[:12]}...)"))
    for file in sorted(directory.rglob("*")):
        relative = file.relative_to(directory).as_posix()
        if file.is_file() and relative != MANIFEST_NAME and relative not in listed:
            problems.append(SetProblem(relative, "not in the manifest"))
    return document, problems


def _entries(document: dict[str, Any], *, manifest: Path) -> list[tuple[str, str]]:
    """The manifest's (path, sha256) pairs, refused whole when one is malformed or leaves the set:
    verification never reads a file the set does not hold."""
    files = document.get("files", [])
    if not isinstance(files, list):
        raise BadInputError(f"{manifest}: 'files' is not a list")
    entries: list[tuple[str, str]] = []
    for index, entry in enumerate(files):
        where = f"{manifest}: files[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise BadInputError(f"{where}: expected an object with 'path' and 'sha256'")
        name, digest = entry["path"], entry.get("sha256")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise BadInputError(f"{where} ({name!r}): 'sha256' is missing or not 64 hexadecimal digits")
        parts = PurePosixPath(name).parts
        if not name or name.startswith("/") or ".." in parts or name in (".", MANIFEST_NAME):
            raise BadInputError(f"{where}: path {name!r} is not a file inside the report set")
        entries.append((name, digest))
    return entries
