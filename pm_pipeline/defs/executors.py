"""The executor that runs each run's steps, chosen by the environment (``PM_EXECUTOR``), so that the
same definitions run on one machine or across a cluster without a code change.

    multiprocess  (default) each step in its own process on this machine, two at a time
    in_process    every step in the run's process, one after the other
    k8s           each step as a Kubernetes Job        (dagster-k8s, with the K8sRunLauncher)
    celery        each step as a Celery task           (dagster-celery, with Celery workers)
    docker        each step in its own Docker container (dagster-docker)

The cluster executors are configured in the run config (``execution: config: ...``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

import dagster as dg

from pm_pipeline.core.errors import BadInputError

ENVIRONMENT_VARIABLE = "PM_EXECUTOR"
DEFAULT_MAX_CONCURRENT = 2
# name -> (module, attribute, package to install)
CLUSTER_EXECUTORS = {
    "k8s": ("dagster_k8s", "k8s_job_executor", "dagster-k8s"),
    "celery": ("dagster_celery", "celery_executor", "dagster-celery"),
    "docker": ("dagster_docker", "docker_executor", "dagster-docker"),
}
EXECUTOR_NAMES = ("multiprocess", "in_process", *CLUSTER_EXECUTORS)


def executor_from_environment(environ: Mapping[str, str]) -> dg.ExecutorDefinition:
    """The executor ``PM_EXECUTOR`` names; a precise error for an unknown name or a missing package."""
    name = environ.get(ENVIRONMENT_VARIABLE, "").strip() or "multiprocess"
    if name == "multiprocess":
        return dg.multiprocess_executor.configured({"max_concurrent": DEFAULT_MAX_CONCURRENT})
    if name == "in_process":
        return dg.in_process_executor
    if name not in CLUSTER_EXECUTORS:
        raise BadInputError(
            f"{ENVIRONMENT_VARIABLE}={name!r} is not an executor; choose one of {', '.join(EXECUTOR_NAMES)}"
        )
    module, attribute, package = CLUSTER_EXECUTORS[name]
    try:
        executor = getattr(importlib.import_module(module), attribute)
    except ImportError as exc:
        raise BadInputError(
            f"{ENVIRONMENT_VARIABLE}={name} needs the package {package} (pip install {package}, the release "
            f"matching dagster {dg.__version__}): {exc}"
        ) from exc
    if not isinstance(executor, dg.ExecutorDefinition):
        raise BadInputError(f"{module}.{attribute} is not a Dagster executor")
    return executor
