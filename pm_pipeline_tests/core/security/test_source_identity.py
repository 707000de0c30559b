"""Per-source limits count one database once, however its URL spells the engine, host, port or schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from pm_pipeline.core.errors import SystemFailure
from pm_pipeline.core.security.source_identity import source_identity
from pm_pipeline.core.security.source_slots import source_slot
from pm_pipeline.core.security.tenants import source_tag

SAME_DATABASE = [
    # Two specs written by different teams: one took libpq's short scheme.
    ("postgres://app:x@db1/shop", "postgresql://app:y@db1/shop"),
    # One spec on the database host itself, another through the loopback address.
    ("postgresql://app@localhost/shop", "postgresql://app@127.0.0.1:5432/shop"),
    ("postgresql://app@[::1]/shop", "postgresql://app@localhost/shop"),
    # The default port written out, and a host spelled in capitals.
    ("postgresql://app@DB1:5432/shop", "postgresql://app@db1/shop"),
    # Another schema of the same database is the same database under load.
    ("postgresql://app@db1/shop?schema=legacy", "postgresql://app@db1/shop?schema=public"),
    # MariaDB reached by either scheme, another user.
    ("mariadb://root@localhost/shop", "mysql://reader@127.0.0.1:3306/shop"),
    # libpq's default database is the user's own.
    ("postgresql://app@db1", "postgresql://app@db1/app"),
]
OTHER_DATABASE = [
    ("postgresql://app@db1/shop", "postgresql://app@db2/shop"),
    ("postgresql://app@db1/shop", "postgresql://app@db1/shop_archive"),
    ("postgresql://app@db1:5432/shop", "postgresql://app@db1:5433/shop"),
    ("postgresql://app@localhost/shop", "mysql://app@localhost/shop"),
]


@pytest.mark.parametrize(("one", "other"), SAME_DATABASE)
def test_urls_reaching_one_database_share_its_tag(one: str, other: str) -> None:
    assert source_identity(one) == source_identity(other)
    assert source_tag(one) == source_tag(other)


@pytest.mark.parametrize(("one", "other"), OTHER_DATABASE)
def test_other_databases_keep_their_own_tag(one: str, other: str) -> None:
    assert source_tag(one) != source_tag(other)


def test_a_file_source_is_named_by_its_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert source_tag("sqlite:///shop.db") == source_tag(f"sqlite:///{tmp_path}/shop.db")
    assert source_tag("sqlite:///shop.db") != source_tag("sqlite:///other.db")


def test_the_identity_holds_no_secret() -> None:
    for url in (
        "postgresql://app:s3cret@db1/shop?sslmode=require",
        "postgresql://app@db1/shop?password=s3cret",
    ):
        assert source_identity(url) == "postgresql://db1:5432/shop"


def test_spellings_of_one_source_take_the_same_slots(tmp_path: Path) -> None:
    with (
        source_slot("postgres://app:x@localhost/shop?schema=a", limit=1, lock_dir=tmp_path),
        pytest.raises(SystemFailure, match="already running"),
        source_slot(
            "postgresql://app:y@127.0.0.1:5432/shop?schema=b", limit=1, lock_dir=tmp_path, wait_seconds=0
        ),
    ):
        pass
