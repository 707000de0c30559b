"""Run tags of the code location's tenant: the instance's run queue limits runs per tenant and per source."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pm_pipeline.core.config import MigrationSpec
from pm_pipeline.core.security.tenants import SOURCE_TAG, TENANT_TAG, source_tag


def tenant_tags(spec: MigrationSpec, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``pm/tenant`` (PM_TENANT, set by the tenant's launcher; ``default`` without one) and ``pm/source``."""
    env = os.environ if environ is None else environ
    return {TENANT_TAG: env.get("PM_TENANT") or "default", SOURCE_TAG: source_tag(spec.source.url)}
