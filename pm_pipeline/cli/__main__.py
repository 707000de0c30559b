"""``python -m pm_pipeline.cli``: the same as the ``pm-pipeline`` console script."""

from pm_pipeline.cli.app import entry

if __name__ == "__main__":
    entry()
