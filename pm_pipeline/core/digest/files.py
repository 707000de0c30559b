"""SHA-256 of files and folders as they lie on disk: report-set manifests, evidence artifacts, audit
records of written reports, rollback snapshot files and signers files all check bytes with it.

What it guarantees: :func:`file_sha256` is the plain SHA-256 of a file's bytes (``sha256sum``
prints the same 64 lower-case hex digits), read in 1 MiB blocks so any file size takes constant
memory. :func:`tree_sha256` names a folder by its files: one line
``<relative path>\\0<file_sha256>\\n`` per file, in path order, hashed with SHA-256. Renaming,
adding, removing or changing any file changes it; timestamps and permissions do not.

How it differs from its siblings: :mod:`.rows` and :mod:`.tablesum` digest a table's canonical
values, so the same data read from another engine, or written in another file format, digests
the same. These digests are of bytes: a file rewritten with equal values but other bytes (another
Parquet writer, other JSON spacing) digests differently, which is the point when proving that a
published file is the one that was written.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_BLOCK = 1 << 20


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file's bytes, as 64 lower-case hex digits."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_sha256(path: Path) -> str:
    """A folder's checksum: its files' relative paths and checksums, in path order."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{file_sha256(file)}\n".encode())
    return digest.hexdigest()
