"""How `make pytest` shares the suite between its pytest-xdist workers (``-n 2 --dist loadscope``):
each test module goes whole to one worker, so that a module-scoped fixture is made once, and the
modules that use the session's demo run (``failing_demo_run``) or the UI served on it (``ui_server``)
go together to one worker, so that the run is made and the UI served once."""

from __future__ import annotations

from typing import Any

# The demo run and the UI are made once per process: every module using them is in this one unit.
DEMO_RUN_MODULES = frozenset(
    {
        "pm_pipeline_tests/defs/test_demo_report_pages.py",
        "pm_pipeline_tests/defs/test_reports_asset.py",
        "pm_pipeline_tests/defs/test_tables.py",
        "pm_pipeline_tests/test_ui_browser.py",
        "pm_pipeline_tests/test_webserver.py",
    }
)
DEMO_RUN_UNIT = "demo run and its UI"


def work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: its module, or the demo run's unit."""
    module = nodeid.split("::", 1)[0]
    return DEMO_RUN_UNIT if module in DEMO_RUN_MODULES else module


def module_scheduler(config: Any, log: Any) -> Any:
    """xdist's scheduling by scope, with scopes as ``work_unit`` says (units with the most tests first)."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return ModuleScheduling(config, log)
