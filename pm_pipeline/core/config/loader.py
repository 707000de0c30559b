"""Read a migration spec from YAML: resolve ${ENV_VAR} references, validate, name every error's place."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pm_pipeline.core.config.messages import describe_error, location_text
from pm_pipeline.core.config.spec import MigrationSpec
from pm_pipeline.core.errors import SpecError

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def resolve_env(text: str, *, file: str, path: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace ${NAME} (or ${NAME:-default}) with the environment's value; a missing one is an error."""
    env = os.environ if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise SpecError(file=file, path=path, problem=f"environment variable {name} is not set")

    return _ENV_REF.sub(substitute, text)


def _resolve_tree(node: Any, *, file: str, path: str, environ: Mapping[str, str] | None) -> Any:
    if isinstance(node, str):
        return resolve_env(node, file=file, path=path, environ=environ)
    if isinstance(node, dict):
        return {
            key: _resolve_tree(value, file=file, path=f"{path}.{key}" if path else str(key), environ=environ)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [
            _resolve_tree(item, file=file, path=f"{path}[{index}]", environ=environ)
            for index, item in enumerate(node)
        ]
    return node


def spec_from_mapping(
    data: Any, *, file: str = "<spec>", environ: Mapping[str, str] | None = None
) -> MigrationSpec:
    """Validate an already-parsed YAML document."""
    if not isinstance(data, dict):
        raise SpecError(file=file, path="", problem="expected a mapping at the top level of the spec")
    resolved = _resolve_tree(data, file=file, path="", environ=environ)
    try:
        return MigrationSpec.model_validate(resolved, context={"file": file})
    except ValidationError as exc:
        first = exc.errors()[0]
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise SpecError(
            file=file, path=location_text(tuple(first["loc"])), problem=describe_error(first) + suffix
        ) from None


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader minus what makes a spec mean something its reader does not see: a key
    written twice (the last would silently win), a key that is not text (``on:`` reads as true),
    anchors, aliases and ``<<`` merge keys (a value defined far from where it applies)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None,
                None,
                "anchors and aliases (&name, *name) are not allowed in a spec: write each value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    "merge keys (<<) are not allowed in a spec: write each key out",
                    key_node.start_mark,
                )
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is not text: quote it", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first written on line {seen[key]}): keep one",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _read_yaml(text: str, *, file: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(file=file, path=where, problem=f"not valid YAML: {problem}") from None


def load_spec(path: str | Path, *, environ: Mapping[str, str] | None = None) -> MigrationSpec:
    """Load and validate the spec at ``path``."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise SpecError(file=file, path="", problem="file not found") from None
    except IsADirectoryError:
        raise SpecError(file=file, path="", problem="is a folder, not a spec file") from None
    except OSError as exc:
        raise SpecError(file=file, path="", problem=f"cannot be read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            file=file,
            path="",
            problem=f"not a text file (byte {exc.start} is not UTF-8): is it the right file?",
        ) from None
    if "\0" in text:
        raise SpecError(
            file=file, path="", problem="not a text file (it holds NUL bytes): is it the right file?"
        )
    data = _read_yaml(text, file=file)
    if data is None:
        raise SpecError(
            file=file, path="", problem="the file is empty: a spec needs at least source, target and tables"
        )
    return spec_from_mapping(data, file=file, environ=environ)


def spec_checksum(path: str | Path) -> str:
    """SHA-256 of the spec file as written (before environment substitution, so no secret enters it)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
