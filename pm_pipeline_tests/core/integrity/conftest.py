"""Fixtures of the integrity tests."""

from __future__ import annotations

from typing import Any

import pytest

from pm_pipeline.core import check as check_module


@pytest.fixture
def started_profiles(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every expectations' profile a check starts ahead of them (``check.start_profile`` observed,
    not replaced: each call runs as it would)."""
    started: list[Any] = []
    original = check_module.start_profile

    def observed(*args: Any, **kwargs: Any) -> Any:
        early = original(*args, **kwargs)
        started.extend([early] if early is not None else [])
        return early

    monkeypatch.setattr(check_module, "start_profile", observed)
    return started
