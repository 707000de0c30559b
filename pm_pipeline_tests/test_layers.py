"""The package's layers hold: core never imports Dagster, the CLI or the Dagster definitions, inside core
imports flow one way (import_contracts.toml), and no module imports itself back, counting the imports a
module makes when it is loaded."""

from __future__ import annotations

import ast
import copy
import functools
import json
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter.api import read_configuration
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.layers import LayersContract
from importlinter.domain.contract import Contract

import pm_pipeline

CONTRACTS_FILE = Path(__file__).parent / "import_contracts.toml"
PACKAGE_DIR = Path(pm_pipeline.__file__).parent
CONTRACT_TYPES: dict[str, type[Contract]] = {"forbidden": ForbiddenContract, "layers": LayersContract}


def _module_file(module: str) -> Path:
    relative = Path(*module.split(".")[1:])
    package = PACKAGE_DIR / relative / "__init__.py"
    return package if package.exists() else (PACKAGE_DIR / relative).with_suffix(".py")


def _module_level_import_lines(path: Path) -> set[int]:
    """Lines of the imports run when the module is loaded: at its top level, including inside a
    top-level ``if`` or ``try``, but not inside a function or class body."""
    lines: set[int] = set()
    pending: list[ast.stmt] = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            lines.add(node.lineno)
        elif isinstance(node, ast.If):
            pending.extend([*node.body, *node.orelse])
        elif isinstance(node, ast.Try):
            pending.extend([*node.body, *node.orelse, *node.finalbody])
            pending.extend(statement for handler in node.handlers for statement in handler.body)
    return lines


@functools.cache
def _load_time_graph() -> grimp.ImportGraph:
    """pm_pipeline's import graph without the imports made inside functions."""
    options = read_configuration(str(CONTRACTS_FILE))["session_options"]
    graph = grimp.build_graph(
        "pm_pipeline",
        include_external_packages=str(options.get("include_external_packages")).lower() == "true",
        exclude_type_checking_imports=str(options.get("exclude_type_checking_imports")).lower() == "true",
        cache_dir=None,
    )
    for importer in sorted(graph.find_descendants("pm_pipeline") | {"pm_pipeline"}):
        at_load = _module_level_import_lines(_module_file(importer))
        for imported in graph.find_modules_directly_imported_by(importer):
            details = graph.get_import_details(importer=importer, imported=imported)
            if not any(detail["line_number"] in at_load for detail in details):
                graph.remove_import(importer=importer, imported=imported)
    return graph


def _contract(options: dict[str, Any]) -> Contract:
    session = read_configuration(str(CONTRACTS_FILE))["session_options"]
    return CONTRACT_TYPES[options["type"]](
        name=options["name"], session_options=session, contract_options=options
    )


def _contracts() -> list[dict[str, Any]]:
    return list(read_configuration(str(CONTRACTS_FILE))["contracts_options"])


@pytest.mark.parametrize("options", _contracts(), ids=lambda options: options["id"])
def test_the_contract_is_kept(options: dict[str, Any]) -> None:
    check = _contract(options).check(copy.deepcopy(_load_time_graph()), verbose=False)
    assert check.kept, f"{options['name']}: broken by\n" + json.dumps(check.metadata, indent=1, default=str)


def test_no_module_imports_itself_back() -> None:
    # A cycle makes the import order decide whether a name exists yet: a module that works alone
    # fails when something else happens to import its partner first.
    graph = _load_time_graph()
    ours = graph.find_descendants("pm_pipeline") | {"pm_pipeline"}
    cycles = sorted(
        f"{importer} -> {imported} -> ... -> {importer}"
        for importer in ours
        for imported in graph.find_modules_directly_imported_by(importer) & ours
        if graph.chain_exists(importer=imported, imported=importer)
    )
    assert not cycles, "\n".join(cycles)


def test_core_never_imports_the_dagster_definitions() -> None:
    # Every import, inside functions too (the contracts above count module-level imports only).
    importing = []
    for path in sorted((PACKAGE_DIR / "core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            else:
                continue
            if any(name == "pm_pipeline.defs" or name.startswith("pm_pipeline.defs.") for name in names):
                importing.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{node.lineno}")
    assert not importing


@pytest.mark.parametrize(
    ("importer", "imported", "contract_id"),
    [
        # The spec's layer reaching up into the reports: a config model built from report types.
        ("pm_pipeline.core.config.spec", "pm_pipeline.core.report.model", "core-flows-one-way"),
        # A connector importing a check (an engine module deciding what a difference is).
        ("pm_pipeline.core.connectors.postgres", "pm_pipeline.core.reconcile.engine", "core-flows-one-way"),
        ("pm_pipeline.core.verdict", "dagster", "core-is-plain-python"),
        ("pm_pipeline.core.security.audit", "pm_pipeline.core.rollback.plan", "security-is-a-foundation"),
        # A digest contract built on a check's internals (the reconciliation's readers and plans).
        ("pm_pipeline.core.digest.tablesum", "pm_pipeline.core.reconcile.sides", "core-flows-one-way"),
        ("pm_pipeline.core.digest.files", "pm_pipeline.core.security.audit", "digest-is-a-contract"),
    ],
)
def test_a_new_violation_breaks_its_contract(importer: str, imported: str, contract_id: str) -> None:
    graph = copy.deepcopy(_load_time_graph())
    graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="import (test)")
    options = next(options for options in _contracts() if options["id"] == contract_id)
    assert not _contract(options).check(graph, verbose=False).kept
