"""Run an expectation suite inside the target: Great Expectations in SQL, or our own SQL for DuckDB.

GX 1.x runs its expectations as SQL through SQLAlchemy on PostgreSQL, MariaDB/MySQL
(``mysql+pymysql``) and SQLite: only aggregates and bounded samples of unexpected values cross the
wire. On DuckDB (duckdb-engine) GX fails every expectation as shipped, so the same checks run as
our own pushdown SQL there (``engine="sql"``). GX is imported lazily: the import costs seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote as url_quote

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import Category, Finding, Severity, json_value
from pm_pipeline.core.integrity.settings import IntegritySettings
from pm_pipeline.core.integrity.suite import ExpectationCall, build_suite

CHECK = "integrity"
GX_ENGINES = frozenset({"postgresql", "mysql", "sqlite"})
Runner = Literal["great_expectations", "sql"]


@dataclass(frozen=True)
class ExpectationRun:
    """The outcome of one table's suite."""

    table: str
    runner: Runner
    evaluated: int
    failed: int
    findings: tuple[Finding, ...]
    data_docs: str | None = None  # index.html of the GX Data Docs, when written

    @property
    def passed(self) -> bool:
        return self.failed == 0


def sqlalchemy_url(target: Connector) -> str:
    """The SQLAlchemy URL GX connects with (it carries the password: never log it)."""
    url = target.url
    if target.engine == "sqlite":
        return f"sqlite:///{url.path}"
    driver = {"postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql"}.get(target.engine)
    if driver is None:
        raise BadInputError(f"Great Expectations cannot run against {target.engine} ({url.masked})")
    auth = url_quote(url.user or "", safe="")
    if url.password:
        auth += ":" + url_quote(url.password, safe="")
    port = f":{url.port}" if url.port else ""
    return f"{driver}://{auth}@{url.host or 'localhost'}{port}/{url_quote(url.database or '', safe='')}"


def _finding(
    table: str, call: ExpectationCall, unexpected: int | None, samples: list[Any], extra: str
) -> Finding:
    count = "" if unexpected is None else f"{unexpected} unexpected value(s); "
    return Finding(
        table=table,
        category=Category.EXPECTATION_FAILED,
        severity=Severity.ERROR,
        column=call.column,
        target_value=json_value(samples),
        rule=call.label,
        message=f"{call.label} failed ({call.origin}): {count}sample {json_value(samples)}{extra}",
        check=CHECK,
    )


def run_expectations(
    *,
    source: Connector,
    target: Connector,
    mapping: TableMapping,
    settings: IntegritySettings,
    source_schema: TableSchema,
    target_schema: TableSchema,
    data_docs_dir: str | None = None,
    runner: Runner | None = None,
    sample_limit: int = 20,
) -> ExpectationRun:
    """Build the table's suite and run it in the target (GX where it works, our SQL on DuckDB).

    With ``gx.enabled: false`` nothing runs and an empty, passing run is returned.
    """
    if not settings.gx.enabled:
        return ExpectationRun(mapping.target_name, runner or "sql", 0, 0, ())
    suite = build_suite(
        source, mapping=mapping, settings=settings, source_schema=source_schema, target_schema=target_schema
    )
    chosen: Runner = runner or ("great_expectations" if target.engine in GX_ENGINES else "sql")
    if chosen == "sql":
        from pm_pipeline.core.integrity.sql_expectations import evaluate

        findings = [
            found
            for call in suite
            if (found := evaluate(target, table=mapping.target_name, call=call, sample_limit=sample_limit))
        ]
        return ExpectationRun(mapping.target_name, "sql", len(suite), len(findings), tuple(findings))
    return _run_gx(target, mapping.target_name, suite, settings, data_docs_dir, sample_limit)


def _run_gx(
    target: Connector,
    table: str,
    suite: Sequence[ExpectationCall],
    settings: IntegritySettings,
    data_docs_dir: str | None,
    sample_limit: int,
) -> ExpectationRun:
    import great_expectations as gx
    from great_expectations.checkpoint.actions import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # Great Expectations draws a progress bar per validation on stderr; the CLI has its own.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    name = f"pm_{uuid.uuid4().hex[:8]}"
    source: Any
    if target.engine == "postgresql":
        source = context.data_sources.add_postgres(name=name, connection_string=sqlalchemy_url(target))
    elif target.engine == "sqlite":
        source = context.data_sources.add_sqlite(name=name, connection_string=sqlalchemy_url(target))
    else:
        source = context.data_sources.add_sql(name=name, connection_string=sqlalchemy_url(target))
    schema_name = getattr(target, "schema", None) if target.engine == "postgresql" else None
    asset = source.add_table_asset(name=table, table_name=table, schema_name=schema_name)
    batch = asset.add_batch_definition_whole_table(f"{table}_whole")
    gx_suite = context.suites.add(gx.ExpectationSuite(name=f"{table}_integrity"))
    calls_by_id: dict[str, ExpectationCall] = {}
    for call in suite:
        cls = getattr(gx.expectations, "".join(part.capitalize() for part in call.type.split("_")), None)
        if cls is None:
            raise BadInputError(f"integrity.expectations.{table}: unknown expectation type {call.type!r}")
        added = gx_suite.add_expectation(cls(**dict(call.kwargs)))
        calls_by_id[str(added.id)] = call
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{table}_validation", data=batch, suite=gx_suite)
    )
    result_format: dict[str, Any] = {
        "result_format": settings.gx.result_format,
        "partial_unexpected_count": sample_limit,
    }
    docs_index: str | None = None
    if data_docs_dir is not None:
        context.add_data_docs_site(
            site_name="pm_pipeline",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": data_docs_dir,
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"{table}_checkpoint",
                validation_definitions=[validation],
                actions=[UpdateDataDocsAction(name="docs")],
                result_format=result_format,
            )
        )
        outcome = checkpoint.run()
        results = next(iter(outcome.run_results.values()))
        docs_index = f"{data_docs_dir.rstrip('/')}/index.html"
    else:
        results = validation.run(result_format=result_format)
    findings: list[Finding] = []
    for result in results.results:
        if result.success:
            continue
        config = result.expectation_config
        call = calls_by_id[str(config.id if config is not None else "")]
        detail = result.result or {}
        samples = detail.get("partial_unexpected_list") or detail.get("unexpected_list") or []
        observed = detail.get("observed_value")
        extra = f"; observed {json_value(observed)}" if observed is not None else ""
        if result.exception_info and result.exception_info.get("raised_exception"):
            extra += f"; GX raised: {result.exception_info.get('exception_message')}"
        findings.append(_finding(table, call, detail.get("unexpected_count"), samples[:sample_limit], extra))
    return ExpectationRun(table, "great_expectations", len(suite), len(findings), tuple(findings), docs_index)
