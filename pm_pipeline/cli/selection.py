"""Which spec and tables `pm-pipeline check` runs: the spec file or the URLs, ``--tables`` and ``--timeout``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pm_pipeline.cli.common import remember_secrets
from pm_pipeline.core.config import MigrationSpec, TableMapping, load_spec, spec_checksum
from pm_pipeline.core.connectors import open_endpoint
from pm_pipeline.core.errors import BadInputError, TableNotFoundError
from pm_pipeline.core.run import spec_for_urls


def check_spec(
    spec_path: Path | None, source_url: str | None, target_url: str | None, tables: Sequence[str] | None
) -> tuple[MigrationSpec, str]:
    """The spec a check runs (its file's, or one built from --source/--target) and its checksum."""
    if spec_path is not None:
        spec = load_spec(spec_path)
        remember_secrets(spec.source.url, spec.source.replica_url or "", spec.target.url)
        return selected_tables(spec, tables, spec_path=spec_path), spec_checksum(spec_path)
    assert source_url and target_url
    spec = spec_for_urls(source_url=source_url, target_url=target_url, tables=tables)
    if tables:
        require_in_source(spec, list(dict.fromkeys(tables)))
    return spec, "no-spec"


def with_timeouts(spec: MigrationSpec, overrides: Mapping[str, str]) -> MigrationSpec:
    """``spec`` with ``--timeout`` overrides applied to both sides' ``timeouts``."""
    from pydantic import ValidationError

    from pm_pipeline.core.config.timeouts import TimeoutSettings

    sides = {}
    for side in ("source", "target"):
        endpoint = getattr(spec, side)
        try:
            limits = TimeoutSettings.model_validate({**endpoint.timeouts.model_dump(), **overrides})
        except ValidationError as exc:
            error = exc.errors()[0]
            name = ".".join(str(part) for part in error["loc"])
            raise BadInputError(f"--timeout {name}: {error['msg'].removeprefix('Value error, ')}") from None
        sides[side] = endpoint.model_copy(update={"timeouts": limits})
    return spec.model_copy(update=sides)


def selected_tables(spec: MigrationSpec, tables: Sequence[str] | None, *, spec_path: Path) -> MigrationSpec:
    """The spec restricted to ``--tables``: every name must be one the spec maps (or, with
    ``discover``, one the source holds); a name that matches nothing is an error, never a run that
    compares nothing and passes."""
    if not tables:
        return spec
    wanted = list(dict.fromkeys(tables))
    mapped = {mapping.source: mapping for mapping in spec.tables}
    others = [name for name in wanted if name not in mapped]
    if others and not spec.discover:
        raise BadInputError(
            f"--tables {', '.join(others)}: not mapped in the spec {spec_path}, which maps "
            f"{names_text(list(mapped))} (or set 'discover: true' to compare any table both sides hold)"
        )
    if others:
        require_in_source(spec, others)
    chosen = [mapped.get(name) or TableMapping(source=name) for name in wanted]
    return spec.model_copy(update={"tables": chosen, "discover": False})


def tables_from_flag(spec_path: Path | None, tables: Sequence[str] | None) -> set[str]:
    """The ``--tables`` names the spec file does not map itself."""
    if not tables:
        return set()
    if spec_path is None:
        return set(tables)
    return set(tables) - {mapping.source for mapping in load_spec(spec_path).tables}


def names_text(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit]) or "no table"
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def require_in_source(spec: MigrationSpec, names: Sequence[str]) -> None:
    with open_endpoint(spec.source) as source:
        present = source.list_tables()
        missing = [name for name in names if name not in present]
        if missing:
            raise TableNotFoundError(
                f"--tables {', '.join(missing)}: named in --tables but not in the source {source.describe()}, "
                f"which holds {names_text(present)}"
            )
