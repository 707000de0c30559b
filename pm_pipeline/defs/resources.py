"""Dagster resources: the migration spec and the two connections it names."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from pm_pipeline.core.config import MigrationSpec, load_spec, spec_checksum
from pm_pipeline.core.config.spec import Endpoint
from pm_pipeline.core.connectors import Connector, open_endpoint
from pm_pipeline.core.report.audiences import INSTANCE_CLEARANCE_ENV, at_clearance, clearance_from_env


def capped_to_instance(spec: MigrationSpec) -> MigrationSpec:
    """The spec with its reports' clearance lowered to the code location's (PM_DAGSTER_CLEARANCE):
    what Dagster stores (metadata, step outputs, its report sets) is seen by everyone who can open
    the instance, so it never holds values above what the instance is cleared for. An environment
    variable, not resource configuration: a run's configuration must not be able to raise it."""
    cap = clearance_from_env(os.environ.get(INSTANCE_CLEARANCE_ENV))
    if cap is None or spec.reports.clearance.rank <= cap.rank:
        return spec
    return at_clearance(spec, cap)


class MigrationResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The migration spec a run works on.

    Connection URLs come from the spec, whose secrets are ``${ENV_VAR}`` references resolved when
    the run starts, so no secret is stored in the run's configuration. ``source_url`` and
    ``target_url`` override the spec's URLs (set them with ``dg.EnvVar`` to keep secrets out of
    the code location).
    """

    spec_path: str
    source_url: str | None = None
    target_url: str | None = None

    def spec(self) -> MigrationSpec:
        return capped_to_instance(self.with_urls(load_spec(self.spec_path)))

    def with_urls(self, spec: MigrationSpec) -> MigrationSpec:
        """``spec`` with this resource's ``source_url`` and ``target_url``, where set."""
        updates: dict[str, Endpoint] = {}
        if self.source_url:
            updates["source"] = spec.source.model_copy(update={"url": self.source_url})
        if self.target_url:
            updates["target"] = spec.target.model_copy(update={"url": self.target_url})
        return spec.model_copy(update=updates) if updates else spec

    def checksum(self) -> str:
        return spec_checksum(self.spec_path)

    def open(self, endpoint: Endpoint) -> Connector:
        """A connector to one side of ``spec()`` (close it, or use it as a context manager).
        Every asset connects through here, so a test or another deployment can substitute it."""
        return open_endpoint(endpoint)

    @contextmanager
    def connections(
        self, spec: MigrationSpec, *, readers_wait: float | None = None
    ) -> Iterator[tuple[Connector, Connector]]:
        """Both sides of ``spec``, at this resource's URLs where it sets them (a sensor or the code
        location's discovery passes the spec it was built with), closed on exit.

        ``readers_wait`` (seconds) caps how long the source's connector waits for a reader slot:
        a sensor tick or a code location's load that finds the source busy fails within it (the
        next tick or a reload tries again) instead of holding the daemon or the load for the spec's
        full wait."""
        spec = self.with_urls(spec)
        source_endpoint = spec.source
        if readers_wait is not None:
            wait = min(spec.source.readers_wait, readers_wait)
            source_endpoint = spec.source.model_copy(update={"readers_wait": wait})
        with self.open(source_endpoint) as source, self.open(spec.target) as target:
            yield source, target

    def reports_directory(self) -> Path:
        directory = Path(self.spec().reports.directory)
        if not directory.is_absolute():
            directory = Path(self.spec_path).resolve().parent / directory
        return directory
