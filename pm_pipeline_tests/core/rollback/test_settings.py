"""The rollback section of a spec: defaults, and errors that name the file and key path."""

from __future__ import annotations

import pytest

from pm_pipeline.core.errors import SpecError
from pm_pipeline.core.rollback import parse_rollback


def test_defaults() -> None:
    settings = parse_rollback({}, file="m.yaml")
    assert settings.approvals_required == 2 and settings.tables == []
    assert settings.in_database_snapshot is False


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"approvels_required": 2}, "rollback.approvels_required"),  # a typo must not be ignored
        ({"approvals_required": 0}, "rollback.approvals_required"),
        ({"tables": ["a", 3]}, "rollback.tables[1]"),
    ],
)
def test_errors_name_the_key(data: dict[str, object], path: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_rollback(data, file="m.yaml")
    assert info.value.path == path and str(info.value).startswith(f"m.yaml: {path}")


def test_not_a_mapping() -> None:
    with pytest.raises(SpecError, match="expected a mapping"):
        parse_rollback(["x"], file="m.yaml")
