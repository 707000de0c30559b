"""The pm-pipeline command.

Exit codes: 0 all checks pass (warnings allowed), 1 differences found, 2 bad input or usage, 3 a
system failed, or the run is incomplete (a check could not run to the end: its reports are written),
or pm-pipeline raised an exception it did not expect. ``main`` maps every exception to one of them:
errors are one actionable line on stderr, passwords masked; --debug adds the (masked) traceback.
One module per command (check, rollback, perf, audit, workspace, ...); ``app`` parses the command
line and dispatches; ``common`` holds what they all share.
"""

from pm_pipeline.cli.app import entry, main

__all__ = ["entry", "main"]
