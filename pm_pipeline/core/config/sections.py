"""One way to validate a section of the spec (``integrity:``, ``rollback:``, ``monitoring:``, ...)
and to word its first problem: the file, the key path from the top of the spec, what is wrong."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pm_pipeline.core.config.messages import describe_error, location_text
from pm_pipeline.core.errors import SpecError

M = TypeVar("M", bound=BaseModel)


def parse_section(model: type[M], data: Any, *, file: str, section: str, tags: Collection[str] = ()) -> M:
    """``data`` (the section's YAML; None or absent: every default) as ``model``; a problem raises
    SpecError naming ``section`` and the key path within it. ``tags`` are the names a
    discriminated union adds to an error's location, which the spec's author never wrote."""
    if data is None:
        data = {}
    if isinstance(data, model):
        return data
    if not isinstance(data, dict):
        raise SpecError(file=file, path=section, problem="expected a mapping")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        where = location_text(tuple(part for part in first["loc"] if part not in tags))
        path = section if not where else section + (where if where.startswith("[") else f".{where}")
        raise SpecError(file=file, path=path, problem=describe_error(first) + suffix) from None
