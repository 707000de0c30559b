"""The Dagster code location: definitions load for the demo spec, the asset graph matches its reviewed
snapshot, every asset is documented, and pm_pipeline/core stays free of dagster imports.

The helpers at the top are shared with the other code-location tests (tables, reports, webserver,
dagster-postgres): the demo is built once per session and copied, because building it costs seconds.
"""

from __future__ import annotations

import ast
import functools
import importlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pm_pipeline.demo.generate import DemoPaths, build_demo, demo_paths, demo_spec_text

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden" / "asset_graph.json"
TABLES = ("customers", "products", "orders", "order_items", "payments")


@functools.cache
def _pristine_demo(base: Path) -> DemoPaths:
    return build_demo(base / "demo_pristine")


def demo_copy(base: Path, destination: Path) -> DemoPaths:
    """A private copy of the session's demo (databases and spec) under ``destination``."""
    pristine = _pristine_demo(base)
    paths = demo_paths(destination)
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy2(pristine.source, paths.source)
    shutil.copy2(pristine.target, paths.target)
    paths.spec.write_text(demo_spec_text(paths), encoding="utf-8")
    return paths


def clean_spec(paths: DemoPaths, name: str = "clean.yaml") -> Path:
    """A spec comparing the demo's legacy SQLite database with itself: a migration without defects."""
    spec = paths.directory / name
    tables = "".join(f"  - source: {t}\n" for t in TABLES)
    spec.write_text(
        f"""version: 1
name: clean-shop
source:
  url: {paths.source_url}
  timezone: Europe/Paris
target:
  url: {paths.source_url}
  timezone: Europe/Paris
tables:
{tables}reports:
  directory: {paths.directory / "clean_reports"}
  clearance: internal
""",
        encoding="utf-8",
    )
    return spec


def definitions_module(spec: Path) -> ModuleType:
    """pm_pipeline.definitions, imported with PM_SPEC set so its module-level ``defs`` never builds
    the demo in the working directory (the repository)."""
    if "pm_pipeline.definitions" in sys.modules:
        return sys.modules["pm_pipeline.definitions"]
    previous = os.environ.get("PM_SPEC")
    os.environ["PM_SPEC"] = str(spec)
    try:
        return importlib.import_module("pm_pipeline.definitions")
    finally:
        if previous is None:
            os.environ.pop("PM_SPEC", None)
        else:
            os.environ["PM_SPEC"] = previous


def build(spec: Path) -> Any:
    return definitions_module(spec).build_definitions(spec)


@dataclass(frozen=True)
class DemoRun:
    paths: DemoPaths
    result: Any  # dagster.ExecuteInProcessResult
    instance: Any  # the dagster.DagsterInstance it ran on
    home: Path  # that instance's DAGSTER_HOME (the served UI shows it)


def demo_run_home(base: Path) -> Path:
    """The DAGSTER_HOME of the session's demo run: the project's dagster.yaml, SQLite storage."""
    return base / "demo_failing_run_home"


def create_instance_home(home: Path) -> None:
    """``home`` with the project's dagster.yaml and its SQLite databases created, so that two
    processes (a server and a run) can open them at once: both would otherwise create their schema,
    and the second migration would fail."""
    import dagster as dg

    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_run_records(limit=1)
        instance.fetch_materializations(dg.AssetKey("none"), limit=1)
        instance.all_instigator_state()


@functools.cache
def failing_demo_paths(base: Path) -> DemoPaths:
    """The demo copy the session's demo run checks (made once)."""
    return demo_copy(base, base / "demo_failing_run")


@functools.cache
def failing_demo_run(base: Path) -> DemoRun:
    """The main job run in-process on the demo, once per session, into a real instance (the tables,
    reports and served-UI tests share it)."""
    import dagster as dg

    paths = failing_demo_paths(base)
    defs = build(paths.spec)
    job = defs.resolve_job_def(definitions_module(paths.spec).MAIN_JOB)
    home = demo_run_home(base)
    if not (home / "dagster.yaml").exists():
        create_instance_home(home)
    instance = dg.DagsterInstance.from_config(str(home))
    return DemoRun(paths, job.execute_in_process(instance=instance, raise_on_error=False), instance, home)


def dagster_home(directory: Path) -> Path:
    """A DAGSTER_HOME with telemetry off, for subprocesses."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def demo_defs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.getbasetemp()
    paths = demo_copy(base, tmp_path_factory.mktemp("definitions"))
    return build(paths.spec)


def asset_graph_snapshot(defs: Any) -> list[dict[str, Any]]:
    """Each asset's key, group, kinds, owners, tags, upstream keys and checks, sorted: what a reviewer
    approves (the UI draws kinds and owners on every node and filters the catalog by tag)."""
    snapshot = []
    for spec in defs.resolve_all_asset_specs():
        assets_def = defs.resolve_assets_def(spec.key)
        checks = sorted(
            (
                {"name": c.name, "blocking": c.blocking}
                for c in assets_def.check_specs
                if c.asset_key == spec.key
            ),
            key=lambda c: str(c["name"]),
        )
        snapshot.append(
            {
                "key": spec.key.to_user_string(),
                "group": spec.group_name,
                "kinds": sorted(spec.kinds),
                "owners": list(spec.owners),
                "tags": {k: v for k, v in sorted(spec.tags.items()) if not k.startswith("dagster/kind/")},
                "deps": sorted(d.asset_key.to_user_string() for d in spec.deps),
                "checks": checks,
            }
        )
    return sorted(snapshot, key=lambda a: a["key"])


def test_definitions_load_for_the_demo_spec(demo_defs: Any) -> None:
    keys = {k.to_user_string() for k in demo_defs.resolve_all_asset_keys()}
    for table in TABLES:
        for layer in ("source", "target", "reconciliation", "schema", "verified"):
            assert f"{layer}/{table}" in keys
    assert "reports/migration_report" in keys
    job = demo_defs.resolve_job_def("migration_check")
    assert job.name == "migration_check"


def test_asset_graph_matches_the_reviewed_snapshot(demo_defs: Any) -> None:
    snapshot = asset_graph_snapshot(demo_defs)
    if os.environ.get("PM_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(snapshot, indent=2) + "\n", encoding="utf-8")
    assert GOLDEN.exists(), f"{GOLDEN} is missing: run with PM_UPDATE_GOLDEN=1 and review it"
    assert snapshot == json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_reports_do_not_wait_for_the_verdicts(demo_defs: Any) -> None:
    report = next(
        s for s in demo_defs.resolve_all_asset_specs() if s.key.to_user_string() == "reports/migration_report"
    )
    deps = {d.asset_key.to_user_string() for d in report.deps}
    assert deps >= {f"{layer}/{t}" for t in TABLES for layer in ("reconciliation", "schema")}
    assert [d for d in deps if d.startswith("verified/")] == []


def test_every_asset_has_a_group_and_a_description(demo_defs: Any) -> None:
    undocumented = [
        s.key.to_user_string()
        for s in demo_defs.resolve_all_asset_specs()
        if not s.group_name or s.group_name == "default" or not (s.description or "").strip()
    ]
    assert undocumented == []


def _dagster_imports(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line module`` for every absolute import of a dagster package in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in sorted(ast.walk(tree), key=lambda n: getattr(n, "lineno", 0)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [
            f"{path.relative_to(root)}:{node.lineno} {n}"
            for n in names
            if n.split(".")[0].startswith("dagster")
        ]
    return found


def test_core_never_imports_dagster() -> None:
    files = sorted((ROOT / "pm_pipeline" / "core").rglob("*.py"))
    assert len(files) > 10
    offenders = [hit for path in files for hit in _dagster_imports(path)]
    assert offenders == []


def test_the_import_check_catches_a_dagster_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os\nfrom dagster_postgres import x\n\ndef f():\n    import dagster.components as dc\n",
        encoding="utf-8",
    )
    assert _dagster_imports(probe, tmp_path) == [
        "probe.py:2 dagster_postgres",
        "probe.py:5 dagster.components",
    ]
