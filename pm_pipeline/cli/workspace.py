"""`pm-pipeline workspace`: a Dagster workspace.yaml with one code location per tenant folder; and the
command line's per-source limit, the counterpart of the run queue's."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pm_pipeline.cli.common import EXIT_OK
from pm_pipeline.core.errors import BadInputError


def add_workspace_parser(commands: Any) -> None:
    workspace = commands.add_parser(
        "workspace", help="write workspace.yaml: one Dagster code location per tenant folder"
    )
    workspace.add_argument(
        "tenants", type=Path, help="folder of tenant folders, each with spec.yaml (and tenant.env)"
    )
    workspace.add_argument(
        "--out", type=Path, default=Path("workspace.yaml"), help="default ./workspace.yaml"
    )
    workspace.add_argument(
        "--instance-config",
        type=Path,
        help="dagster.yaml to set the run queue's per-tenant and per-source limits in",
    )
    workspace.add_argument(
        "--runs-per-tenant", type=int, default=2, help="concurrent runs per tenant (default 2)"
    )
    workspace.add_argument(
        "--runs-per-source", type=int, default=2, help="concurrent runs per source database (default 2)"
    )
    workspace.add_argument(
        "--python", default=sys.executable, help="the Python of the locations (default: this one)"
    )


def run_workspace(args: argparse.Namespace) -> int:
    import yaml

    from pm_pipeline.core.security.tenants import discover_tenants, run_queue_limits, write_workspace

    for flag, value in (
        ("--runs-per-tenant", args.runs_per_tenant),
        ("--runs-per-source", args.runs_per_source),
    ):
        if value < 1:
            raise BadInputError(f"{flag} {value}: expected a whole number of runs, at least 1")
    tenants = discover_tenants(args.tenants)
    for tenant in tenants:
        tenant.variables()  # a malformed tenant.env fails here, naming its line
    document = write_workspace(tenants, python=args.python)
    args.out.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    print(f"{args.out}: {len(tenants)} code location(s)")
    for tenant in tenants:
        secrets = f", secrets from {tenant.env_file.name}" if tenant.env_file else ", no tenant.env"
        print(f"  {tenant.location_name}: {tenant.spec}{secrets}")
    if args.instance_config is not None:
        config: dict[str, Any] = {}
        if args.instance_config.exists():
            loaded = yaml.safe_load(args.instance_config.read_text(encoding="utf-8"))
            if loaded is not None and not isinstance(loaded, dict):
                raise BadInputError(f"{args.instance_config}: not a dagster.yaml mapping")
            config = loaded or {}
        queue = dict(config.get("run_queue") or {})
        queue["tag_concurrency_limits"] = run_queue_limits(
            per_tenant=args.runs_per_tenant, per_source=args.runs_per_source
        )
        config["run_queue"] = queue
        args.instance_config.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        print(
            f"{args.instance_config}: at most {args.runs_per_tenant} concurrent run(s) per tenant and "
            f"{args.runs_per_source} per source database"
        )
    return EXIT_OK


@contextmanager
def source_limit(args: argparse.Namespace) -> Iterator[None]:
    """Hold a slot of the check's source database when a per-source limit is set (flag or PM_RUNS_PER_SOURCE)."""
    configured = args.runs_per_source
    if configured is None and os.environ.get("PM_RUNS_PER_SOURCE"):
        try:
            configured = int(os.environ["PM_RUNS_PER_SOURCE"])
        except ValueError:
            raise BadInputError(
                f"PM_RUNS_PER_SOURCE={os.environ['PM_RUNS_PER_SOURCE']!r}: expected a whole number of runs"
            ) from None
    if configured is None:
        yield
        return
    from pm_pipeline.core.security.source_slots import source_slot

    url = args.source
    if url is None:
        from pm_pipeline.core.config import load_spec

        url = load_spec(args.spec).source.url

    def waiting(message: str) -> None:
        print(f"pm-pipeline check: {message}", file=sys.stderr)

    with source_slot(url, limit=configured, wait_seconds=args.slot_wait, on_wait=waiting):
        yield
