"""Tenants: one folder per team, each its own Dagster code location with its own environment.

A tenant folder holds its spec (``spec.yaml``), its secrets (``tenant.env``: sh-compatible
``NAME=value`` lines) and, through the spec, its report root and audit log. ``pm-pipeline
workspace`` writes a workspace.yaml with one code location per tenant, each started through a
small launcher that removes every other tenant's variables from the environment, loads only its
own ``tenant.env`` and names its own spec: one tenant's location process never holds another's
secrets and builds only its own definitions. Runs carry the tags ``pm/tenant`` and ``pm/source``
so that the instance's run queue can limit concurrent runs per tenant and per source database.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pm_pipeline.core.errors import BadInputError

SPEC_FILE = "spec.yaml"
ENV_FILE = "tenant.env"
LAUNCHER = ".pm-location"
TENANT_TAG = "pm/tenant"
SOURCE_TAG = "pm/source"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=")


@dataclass(frozen=True)
class Tenant:
    name: str
    folder: Path
    spec: Path
    env_file: Path | None

    @property
    def location_name(self) -> str:
        return f"pm_{self.name}"

    def variables(self) -> list[str]:
        """The names ``tenant.env`` defines (never their values)."""
        if self.env_file is None:
            return []
        names = []
        for number, line in enumerate(self.env_file.read_text(encoding="utf-8").splitlines(), start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            match = _ENV_LINE.match(text)
            if match is None:
                raise BadInputError(f"{self.env_file}: line {number}: expected NAME=value")
            names.append(match.group(1))
        return names


def discover_tenants(root: Path) -> list[Tenant]:
    """Every sub-folder of ``root`` holding a spec.yaml, by name. Folder names are the tenants' names."""
    if not root.is_dir():
        raise BadInputError(f"tenants folder {root} does not exist")
    tenants = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and (p / SPEC_FILE).is_file()):
        if not _NAME.match(folder.name):
            raise BadInputError(
                f"tenant folder {folder}: a tenant's name is lower-case letters, digits, '-' and '_' "
                "(it becomes a code location name and a run tag)"
            )
        env = folder / ENV_FILE
        tenants.append(
            Tenant(
                folder.name,
                folder.resolve(),
                (folder / SPEC_FILE).resolve(),
                env.resolve() if env.is_file() else None,
            )
        )
    if not tenants:
        raise BadInputError(f"tenants folder {root}: no sub-folder holds a {SPEC_FILE}")
    # A tenant's asset keys and job names start with its name, '-' spelled '_' (Dagster allows no '-'):
    # two names equal but for that would share one prefix, and with it their assets' history.
    spelled: dict[str, str] = {}
    for tenant in tenants:
        other = spelled.setdefault(tenant.name.replace("-", "_"), tenant.name)
        if other != tenant.name:
            raise BadInputError(
                f"tenant folders {root / other} and {root / tenant.name}: names that differ only by '-' and '_' "
                "would share their Dagster asset keys; rename one"
            )
    return tenants


def source_tag(url: str) -> str:
    """A run tag naming a source database without its secrets: its engine, host, port and database
    however the URL spells them (:func:`.source_identity.source_identity`), hashed."""
    from pm_pipeline.core.security.source_identity import source_identity

    return "src-" + hashlib.sha256(source_identity(url).encode()).hexdigest()[:16]


def launcher_text(tenant: Tenant, *, others: list[str], python: str) -> str:
    """The sh script a tenant's code location starts through (its ``executable_path``)."""
    lines = [
        "#!/bin/sh",
        f"# pm-pipeline code location of tenant {tenant.name}: written by `pm-pipeline workspace`",
    ]
    if others:
        lines.append("unset " + " ".join(sorted(set(others))))
    if tenant.env_file is not None:
        lines += ["set -a", f". {shlex.quote(str(tenant.env_file))}", "set +a"]
    lines += [
        f"PM_SPEC={shlex.quote(str(tenant.spec))} PM_TENANT={shlex.quote(tenant.name)}",
        "export PM_SPEC PM_TENANT",
        f'exec {shlex.quote(python)} "$@"',
    ]
    return "\n".join(lines) + "\n"


def write_workspace(
    tenants: list[Tenant], *, python: str, module: str = "pm_pipeline.definitions"
) -> dict[str, Any]:
    """Write each tenant's launcher and return the workspace document (one code location per tenant)."""
    declared = {tenant.name: tenant.variables() for tenant in tenants}
    entries = []
    for tenant in tenants:
        others = [name for other, names in declared.items() if other != tenant.name for name in names]
        own = set(declared[tenant.name])
        launcher = tenant.folder / LAUNCHER
        launcher.write_text(launcher_text(tenant, others=[n for n in others if n not in own], python=python))
        launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
        entries.append(
            {
                "python_module": {
                    "module_name": module,
                    "location_name": tenant.location_name,
                    "working_directory": str(tenant.folder),
                    "executable_path": str(launcher),
                }
            }
        )
    return {"load_from": entries}


def run_queue_limits(*, per_tenant: int, per_source: int) -> list[dict[str, Any]]:
    """The instance's ``run_queue.tag_concurrency_limits``: at most this many runs per tenant and per source."""
    return [
        {"key": TENANT_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": per_tenant},
        {"key": SOURCE_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": per_source},
    ]
