"""Plain-Python core of pm-pipeline. Nothing under this package imports dagster."""
