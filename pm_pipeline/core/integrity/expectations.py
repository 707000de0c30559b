# Over 300 lines: both runners (generated SQL, declared GX) fill the one ExpectationRun and finding shape.
"""Run a table's expectations: the generated ones as our own pushdown SQL on every engine, the
declared ones (``integrity.expectations``) through Great Expectations where it runs in SQL.

Generated expectations (:mod:`.suite`) cost one aggregate scan per side and a bounded sample per
failed expectation (:mod:`.sql_expectations`). GX 1.x runs declared suites as SQL through
SQLAlchemy on PostgreSQL, MariaDB/MySQL (``mysql+pymysql``) and SQLite, and writes Data Docs; on
DuckDB (duckdb-engine) it fails every expectation as shipped, so declared suites run as our own
SQL there (:mod:`.declared_sql`). GX is imported only when a declared suite runs: the import costs
seconds. An expectation that cannot run (an SQL error, an exception inside GX) is a check_error
finding naming the expectation, the table, the column and the database's message; the others run.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal
from urllib.parse import quote as url_quote

from pm_pipeline.core.check_errors import Unit, check_error_finding, guarded, reason
from pm_pipeline.core.config.integrity import IntegritySettings
from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors.base import Connector
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.errors import BadInputError, ConnectionFailure
from pm_pipeline.core.findings import Category, ColumnFacts, Finding, Severity, json_value
from pm_pipeline.core.integrity.early import HeadStart
from pm_pipeline.core.integrity.sql_expectations import (
    GeneratedExpectation,
    sample_unexpected,
)
from pm_pipeline.core.integrity.suite import ExpectationCall, declared_suite, generate_and_count
from pm_pipeline.core.reconcile.planning import TablePlan, plan_table

CHECK = "integrity"
Runner = Literal["great_expectations", "sql"]


@dataclass(frozen=True)
class ExpectationRun:
    """The outcome of one table's expectations. ``runner`` ran the declared suite ("sql" when there
    is none: generated expectations always run as our SQL); ``errors`` counts those that could not run."""

    table: str
    runner: Runner
    evaluated: int
    failed: int
    findings: tuple[Finding, ...]
    data_docs: str | None = None  # index.html of the GX Data Docs, when written
    errors: int = 0

    @property
    def passed(self) -> bool:
        return self.failed == 0 and self.errors == 0


def runs_gx(target: Connector) -> bool:
    """Whether Great Expectations runs declared suites in SQL on the target's engine."""
    return target.dialect.sqlalchemy_url_template is not None


def sqlalchemy_url(target: Connector) -> str:
    """The SQLAlchemy URL GX connects with (it carries the password: never log it)."""
    url = target.url
    template = target.dialect.sqlalchemy_url_template
    if template is None:
        raise BadInputError(f"Great Expectations cannot run against {target.engine} ({url.masked})")
    auth = url_quote(url.user or "", safe="")
    if url.password:
        auth += ":" + url_quote(url.password, safe="")
    return template.format(
        auth=auth,
        host=url.host or "localhost",
        port=f":{url.port}" if url.port else "",
        database=url_quote(url.database or "", safe=""),
        path=url.path,
    )


def _failure(
    table: str,
    *,
    label: str,
    origin: str,
    column: str | None,
    unexpected: int | None,
    samples: list[Any],
    extra: str = "",
    plan_classification: Any = None,
) -> Finding:
    count = "" if unexpected is None else f"{unexpected} unexpected value(s); "
    return Finding(
        table=table,
        category=Category.EXPECTATION_FAILED,
        severity=Severity.ERROR,
        column=column,
        target_value=json_value(samples),
        rule=label,
        message=f"{label} failed ({origin}): {count}sample {json_value(samples)}{extra}",
        classification=plan_classification,
        check=CHECK,
    )


def _secrets(*connectors: Connector) -> list[str | None]:
    return [connector.url.password for connector in connectors]


def run_generated(
    source: Connector,
    target: Connector,
    *,
    plan: TablePlan,
    value_set_max: int,
    sample_limit: int,
    zones_known: bool = True,
    source_schema: TableSchema | None = None,
    target_schema: TableSchema | None = None,
    facts: ColumnFacts | None = None,
    early: HeadStart | None = None,
) -> tuple[int, list[Finding]]:
    """Generate the table's expectations from the source and run them in the target: how many were
    evaluated, and the findings (failures with a sample ordered by the key, and check errors).
    The schemas' one-column unique keys spare counting duplicates the database rules out, and so do
    what the reconciliation's reading pass learned of its columns (``facts``)."""
    suite, counts = generate_and_count(
        source,
        target,
        plan=plan,
        value_set_max=value_set_max,
        zones_known=zones_known,
        source_schema=source_schema,
        target_schema=target_schema,
        count_target=True,
        facts=facts,
        early=early,
    )
    findings = list(suite.errors)
    table = plan.target_table
    keys = [key.target_name for key in plan.keys]
    for expectation, counted in zip(suite.expectations, counts, strict=True):
        unit = Unit(CHECK, f"expectation {expectation.label}", table, expectation.column)
        if isinstance(counted, Exception):
            findings.append(check_error_finding(unit, counted, secrets=_secrets(source, target)))
        elif counted:
            sampled, error = guarded(
                unit,
                partial(_sample, target, table, expectation, keys, sample_limit),
                connectors=[target],
            )
            findings.append(error or _generated_failure(table, expectation, counted, keys, sampled or []))
    return len(suite.expectations), findings


def _sample(
    target: Connector, table: str, expectation: GeneratedExpectation, keys: list[str], limit: int
) -> list[tuple[Any, ...]]:
    return sample_unexpected(
        target, table=table, expectation=expectation, key_columns=keys, side="target", limit=limit
    )


def _generated_failure(
    table: str, expectation: GeneratedExpectation, counted: int, keys: list[str], rows: list[tuple[Any, ...]]
) -> Finding:
    # An expectation is about a column, not a row: the first sampled key goes in the message only,
    # so the finding links to its column's differences, not to one row's (``consequences``).
    first = dict(zip(keys, rows[0][:-1], strict=True)) if rows and keys else None
    at = f"; first at {json_value(first)}" if first else ""
    return _failure(
        table,
        label=expectation.label,
        origin="generated from the source",
        column=expectation.column,
        unexpected=counted,
        samples=[row[-1] for row in rows],
        extra=at,
        plan_classification=expectation.plan.classification,
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
    source_zone: str | None = None,
    target_zone: str | None = None,
    plan: TablePlan | None = None,
    facts: ColumnFacts | None = None,
    early: HeadStart | None = None,
) -> ExpectationRun:
    """Run the table's generated expectations (our SQL) and declared ones (GX where it runs, else
    our SQL; ``runner`` forces one). With ``gx.enabled: false`` nothing runs and an empty, passing
    run is returned; Data Docs are written only for a declared suite run by GX. ``source_zone`` and
    ``target_zone`` are the zones naive timestamps were written in (the spec's endpoints); without
    both, naive timestamps get no generated range. ``plan``: the table's plan when the caller made
    it (over these schemas and zones); ``facts``: what the reconciliation's reading pass learned of
    its columns (``TableReconciliation.column_facts``); ``early``: the generated expectations'
    profile, started ahead (:func:`.suite.start_profile`)."""
    table = mapping.target_name
    if not settings.gx.enabled:
        return ExpectationRun(table, runner or "sql", 0, 0, ())
    evaluated, findings = 0, list[Finding]()
    if settings.gx.generate:
        plan = plan or plan_table(
            mapping=mapping,
            source=source_schema,
            target=target_schema,
            source_zone=source_zone or "UTC",
            target_zone=target_zone or "UTC",
        )
        evaluated, findings = run_generated(
            source,
            target,
            plan=plan,
            value_set_max=settings.gx.value_set_max,
            sample_limit=sample_limit,
            zones_known=source_zone is not None and target_zone is not None,
            source_schema=source_schema,
            target_schema=target_schema,
            facts=facts,
            early=early,
        )
    declared = declared_suite(settings, table)
    chosen: Runner = "sql"
    docs: str | None = None
    if declared:
        chosen = runner or ("great_expectations" if runs_gx(target) else "sql")
        if chosen == "sql":
            findings += _run_declared_sql(target, table, declared, sample_limit)
        else:
            # Data Docs show raw sample values, which no redactor reaches: none for a classified column.
            docs_dir = data_docs_dir if not _touches(declared, classified_columns(mapping)) else None
            ran, error = guarded(
                Unit(CHECK, "declared expectation suite (Great Expectations)", table),
                partial(_run_gx, target, table, declared, settings, docs_dir, sample_limit),
                connectors=[target],
            )
            findings += ran[0] if ran is not None else [error] if error else []
            docs = ran[1] if ran is not None else None
        evaluated += len(declared)
    failed = sum(1 for f in findings if f.category is Category.EXPECTATION_FAILED)
    errors = sum(1 for f in findings if f.category is Category.CHECK_ERROR)
    return ExpectationRun(table, chosen, evaluated, failed, tuple(findings), docs, errors)


def classified_columns(mapping: TableMapping) -> frozenset[str]:
    """The table's classified columns, by source and by target name."""
    classified = [column for column, rule in mapping.columns.items() if rule.classification is not None]
    return frozenset(classified) | {mapping.renames.get(column, column) for column in classified}


def _touches(declared: Sequence[ExpectationCall], columns: frozenset[str]) -> bool:
    named: set[str] = set()
    for call in declared:
        for argument in ("column", "column_A", "column_B"):
            if isinstance(call.kwargs.get(argument), str):
                named.add(call.kwargs[argument])
        named.update(c for c in call.kwargs.get("column_list") or () if isinstance(c, str))
    return bool(named & columns)


def _run_declared_sql(
    target: Connector, table: str, declared: Sequence[ExpectationCall], sample_limit: int
) -> list[Finding]:
    from pm_pipeline.core.integrity.declared_sql import evaluate

    findings: list[Finding] = []
    for call in declared:
        found, error = guarded(
            Unit(CHECK, f"expectation {call.label}", table, call.column),
            partial(evaluate, target, table=table, call=call, sample_limit=sample_limit),
            connectors=[target],
        )
        findings += [f for f in (found, error) if f is not None]
    return findings


def _run_gx(
    target: Connector,
    table: str,
    suite: Sequence[ExpectationCall],
    settings: IntegritySettings,
    data_docs_dir: str | None,
    sample_limit: int,
) -> tuple[list[Finding], str | None]:
    import great_expectations as gx
    from great_expectations.checkpoint.actions import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig

    with _quiet_great_expectations():
        return _validate_with_gx(gx, UpdateDataDocsAction, ProgressBarsConfig, target, table, suite, settings,
                                 data_docs_dir, sample_limit)  # fmt: skip


@contextlib.contextmanager
def _quiet_great_expectations() -> Iterator[None]:
    """GX logs every expectation that raised, with its traceback (hundreds of lines when the server
    is lost); each is already a check_error finding, or the run's one-line end."""
    logger = logging.getLogger("great_expectations")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _validate_with_gx(
    gx: Any,
    UpdateDataDocsAction: Any,  # the GX classes, imported lazily by the caller
    ProgressBarsConfig: Any,
    target: Connector,
    table: str,
    suite: Sequence[ExpectationCall],
    settings: IntegritySettings,
    data_docs_dir: str | None,
    sample_limit: int,
) -> tuple[list[Finding], str | None]:
    context = gx.get_context(mode="ephemeral")
    # The ephemeral context's own docs site lives in a world-readable temporary folder it never
    # removes; only the site below, in the run's private report set, is ever built.
    for site in list(context.get_site_names()):
        context.delete_data_docs_site(site)
    # Great Expectations draws a progress bar per validation on stderr; the CLI has its own.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    name = f"pm_{uuid.uuid4().hex[:8]}"
    add_source = getattr(context.data_sources, f"add_{target.dialect.gx_data_source}")
    source: Any = add_source(name=name, connection_string=sqlalchemy_url(target))
    schema_name = getattr(target, "schema", None) if target.dialect.has_schemas else None
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
                actions=[UpdateDataDocsAction(name="docs", site_names=["pm_pipeline"])],
                result_format=result_format,
            )
        )
        outcome = checkpoint.run()
        results = next(iter(outcome.run_results.values()))
        docs_index = f"{data_docs_dir.rstrip('/')}/index.html"
    else:
        results = validation.run(result_format=result_format)
    findings: list[Finding] = []
    messages = [m for r in results.results if not r.success and (m := _raised_message(r.exception_info))]
    if messages and not target.answers():
        # One failure for the whole suite, not a check error per expectation.
        raise ConnectionFailure(f"{target.describe()} no longer answers: {reason(Exception(messages[0]))}")
    for result in results.results:
        if result.success:
            continue
        config = result.expectation_config
        call = calls_by_id[str(config.id if config is not None else "")]
        raised = _raised_message(result.exception_info)
        if raised is not None:
            # GX reports an expectation that raised as a failure with an empty sample: it did not run.
            unit = Unit(CHECK, f"expectation {call.label}", table, call.column)
            findings.append(check_error_finding(unit, Exception(raised), secrets=_secrets(target)))
            continue
        detail = result.result or {}
        samples = detail.get("partial_unexpected_list") or detail.get("unexpected_list") or []
        observed = detail.get("observed_value")
        extra = f"; observed {json_value(observed)}" if observed is not None else ""
        findings.append(
            _failure(
                table,
                label=call.label,
                origin=call.origin,
                column=call.column,
                unexpected=detail.get("unexpected_count"),
                samples=samples[:sample_limit],
                extra=extra,
            )
        )
    return findings, docs_index


def _raised_message(info: Any) -> str | None:
    """The message of an exception GX caught while validating, or None. GX gives either one record
    (``raised_exception``, ``exception_message``) or one per failed metric, keyed by the metric's id."""
    if not info:
        return None
    records = [info] if "raised_exception" in info else list(info.values())
    for record in records:
        for item in record if isinstance(record, set | list | tuple) else [record]:
            if isinstance(item, Mapping) and item.get("raised_exception"):
                return str(item.get("exception_message") or "Great Expectations raised an exception")
    return None
