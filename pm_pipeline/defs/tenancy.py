"""The code location's tenant: its runs' tags, and the one place its asset keys and its job,
sensor and schedule names are built.

Dagster keeps one asset per key across an instance, so tenants sharing one would mix their
materialization history and metadata: with PM_TENANT set (by the tenant's launcher), every key
starts with the tenant and every name with ``<tenant>__``. Without it nothing changes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import dagster as dg

from pm_pipeline.core.config import MigrationSpec
from pm_pipeline.core.security.tenants import SOURCE_TAG, TENANT_TAG, source_tag

TENANT_VARIABLE = "PM_TENANT"


def tenant_tags(spec: MigrationSpec, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``pm/tenant`` (PM_TENANT, set by the tenant's launcher; ``default`` without one) and ``pm/source``."""
    env = os.environ if environ is None else environ
    return {TENANT_TAG: env.get(TENANT_VARIABLE) or "default", SOURCE_TAG: source_tag(spec.source.url)}


def tenant_prefix(environ: Mapping[str, str] | None = None) -> str | None:
    """The tenant spelled as Dagster names allow (letters, digits, ``_``), or None without PM_TENANT."""
    env = os.environ if environ is None else environ
    name = env.get(TENANT_VARIABLE, "").strip()
    # Read when definitions are built, not at import, so one process can build several tenants'.
    return re.sub(r"[^A-Za-z0-9_]", "_", name) if name else None


def tenant_key(*path: str) -> dg.AssetKey:
    """An asset key of this code location: ``path`` under the tenant's first component."""
    prefix = tenant_prefix()
    return dg.AssetKey([prefix, *path] if prefix else list(path))


def tenant_name(name: str) -> str:
    """A job, sensor or schedule name of this code location: ``<tenant>__<name>`` with a tenant."""
    prefix = tenant_prefix()
    return f"{prefix}__{name}" if prefix else name


def own_runs(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Run tags that select this tenant's runs among the instance's (none without a tenant)."""
    env = os.environ if environ is None else environ
    name = env.get(TENANT_VARIABLE)
    return {TENANT_TAG: name} if name else {}


def owns_run(run: dg.DagsterRun, *, prefix: str | None) -> bool:
    """Whether ``run`` belongs to the location of tenant ``prefix`` (every run, without one): a run of
    one of its jobs, or an ad-hoc materialization (Dagster's implicit ``__`` asset job) of its assets
    and checks only."""
    if prefix is None or run.job_name.startswith(f"{prefix}__"):
        return True
    if not run.job_name.startswith("__"):
        return False
    selected = {*(run.asset_selection or ()), *(check.asset_key for check in run.asset_check_selection or ())}
    return bool(selected) and all(key.has_prefix([prefix]) for key in selected)
