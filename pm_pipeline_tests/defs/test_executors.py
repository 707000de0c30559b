"""PM_EXECUTOR picks the executor of every run: multiprocess by default, in-process on request, the
cluster executors when their package is installed, and a precise error otherwise."""

from __future__ import annotations

import importlib.util

import dagster as dg
import pytest

from pm_pipeline.core.errors import BadInputError
from pm_pipeline.defs.executors import CLUSTER_EXECUTORS, executor_from_environment


def test_multiprocess_by_default() -> None:
    for environ in ({}, {"PM_EXECUTOR": ""}, {"PM_EXECUTOR": "multiprocess"}):
        assert executor_from_environment(environ).name == "multiprocess"


def test_in_process_on_request() -> None:
    assert executor_from_environment({"PM_EXECUTOR": "in_process"}) is dg.in_process_executor


def test_an_unknown_executor_is_named_with_the_choices() -> None:
    with pytest.raises(
        BadInputError, match=r"PM_EXECUTOR='kubernetes' is not an executor; choose one of .*k8s"
    ):
        executor_from_environment({"PM_EXECUTOR": "kubernetes"})


@pytest.mark.parametrize("name", sorted(CLUSTER_EXECUTORS))
def test_a_cluster_executor_loads_from_its_package_or_names_the_package_to_install(name: str) -> None:
    module, _, package = CLUSTER_EXECUTORS[name]
    if importlib.util.find_spec(module) is None:
        with pytest.raises(
            BadInputError, match=rf"PM_EXECUTOR={name} needs the package {package} \(pip install"
        ):
            executor_from_environment({"PM_EXECUTOR": name})
    else:
        assert executor_from_environment({"PM_EXECUTOR": name}).name == name
