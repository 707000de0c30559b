"""File digests are the SHA-256 of the bytes, whatever the size; a folder's digest is its documented
path-and-digest listing, and changes when a file is renamed or edited."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pm_pipeline.core.digest.files import file_sha256, tree_sha256


def test_a_file_digest_is_the_sha256_of_its_bytes(tmp_path: Path) -> None:
    # Larger than one read block, and not a multiple of it: the last partial block counts too.
    data = bytes(range(256)) * 5000
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert file_sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


def test_a_folder_digest_lists_its_files_in_path_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "inner.txt").write_text("inner", encoding="utf-8")
    (tmp_path / "a.txt").write_text("a", encoding="utf-8")
    listing = "".join(
        f"{name}\0{hashlib.sha256(text.encode()).hexdigest()}\n"
        for name, text in (("a.txt", "a"), ("b/inner.txt", "inner"))
    )
    before = tree_sha256(tmp_path)
    assert before == hashlib.sha256(listing.encode()).hexdigest()
    (tmp_path / "a.txt").rename(tmp_path / "c.txt")
    assert tree_sha256(tmp_path) != before
