"""The shared MariaDB fixture, plus the drop of the shadow/old databases a restore of it may leave."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from . import data


@pytest.fixture
def mariadb_db(mariadb_db: Any) -> Iterator[Any]:
    yield mariadb_db
    mariadb_db.execute(*(f"DROP DATABASE IF EXISTS `{name}`" for name in data.helper_databases(mariadb_db)))
