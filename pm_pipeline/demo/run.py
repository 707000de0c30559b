"""`pm-pipeline demo`: build the demo databases, run the main job in-process, print what was found."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg
from rich.console import Console
from rich.table import Table

from pm_pipeline.cli.console import example_text
from pm_pipeline.core.config import load_spec
from pm_pipeline.core.findings import Severity, TableReconciliation
from pm_pipeline.core.report import redactor_for
from pm_pipeline.core.schema import SchemaComparison
from pm_pipeline.demo.generate import DEFECTS, build_demo

# As the project's dagster.yaml: no telemetry, and no sign-up pop-up when `make ui` shows this home.
_INSTANCE_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"


def _instance() -> dg.DagsterInstance:
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(Path(".dagster_home").resolve())
        os.environ["DAGSTER_HOME"] = home
    Path(home).mkdir(parents=True, exist_ok=True)
    config = Path(home) / "dagster.yaml"
    if not config.exists():
        config.write_text(_INSTANCE_YAML, encoding="utf-8")
    return dg.DagsterInstance.get()


def run_demo(*, directory: Path) -> int:
    console = Console(width=120)
    started = time.perf_counter()
    paths = build_demo(directory)
    console.print(f"[bold]pm-pipeline demo[/]: legacy shop {paths.source} -> migrated {paths.target}")
    console.print(f"spec: {paths.spec}")
    os.environ["PM_SPEC"] = str(paths.spec)
    from pm_pipeline.definitions import MAIN_JOB, build_definitions
    from pm_pipeline.defs.assets.reports import REPORT_KEY
    from pm_pipeline.defs.assets.tables import table_keys

    defs = build_definitions(paths.spec)
    redactor = redactor_for(load_spec(paths.spec))
    instance = _instance()
    job = defs.resolve_job_def(MAIN_JOB)
    # The seeded defects fail the blocking checks on purpose; the summary below says what failed.
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    result = job.execute_in_process(
        instance=instance, raise_on_error=False, run_config=quiet, tags={"pm_pipeline/launched_by": "demo"}
    )
    table = Table(title="Reconciliation: legacy SQLite -> DuckDB")
    for heading in (
        "table",
        "source",
        "target",
        "missing",
        "extra",
        "dup keys",
        "changed",
        "schema",
        "match score",
    ):
        table.add_column(heading, justify="left" if heading == "table" else "right")
    explanations: list[str] = []
    for name in ("customers", "products", "orders", "order_items", "payments"):
        keys = table_keys(name)
        recon: TableReconciliation = result.asset_value(keys.reconciliation)
        schema: SchemaComparison = result.asset_value(keys.schema)
        schema_errors = sum(1 for f in schema.findings if f.severity is Severity.ERROR)
        table.add_row(
            name, f"{recon.source_rows:,}", f"{recon.target_rows:,}", str(recon.missing_rows), str(recon.extra_rows),
            str(recon.duplicate_keys_source + recon.duplicate_keys_target), str(recon.changed_rows),
            f"{schema_errors} error(s)", f"{recon.match_score:.3%}",
        )  # fmt: skip
        # Printed under the spec's clearance, as every report is: restricted names stay masked.
        for finding in map(redactor.redact, recon.findings[:6]):
            where = f"{finding.column} " if finding.column else ""
            # Raw values as stored, canonical ones beside them when they read otherwise (a shifted
            # time in two zones looks equal until both are shown in UTC), white space made visible.
            if finding.category == "value_mismatch":
                line = (
                    f"{name}.{finding.column} [{finding.category}] {finding.message}: {example_text(finding)}"
                )
            else:
                line = f"{name} {finding.key} {where}[{finding.category}] {finding.message}"
            explanations.append(line)
    console.print(table)
    console.print("[bold]What the migration got wrong, as found:[/]")
    for line in explanations:
        console.print(f"  - {line}", markup=False)
    console.print(f"[dim]Seeded defects ({len(DEFECTS)}): " + "; ".join(DEFECTS) + "[/]")
    checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    failed = [e for e in checks if not e.event_specific_data.passed]  # type: ignore[union-attr]
    console.print(f"asset checks: {len(checks) - len(failed)} passed, {len(failed)} failed (blocking)")
    report = next(
        (
            m
            for m in instance.fetch_materializations(REPORT_KEY, limit=1).records
            if m.run_id == result.run_id
        ),
        None,
    )
    if report is not None:
        materialization = report.asset_materialization
        assert materialization is not None
        verdict = materialization.metadata.get("verdict")
        console.print(f"verdict: [bold]{getattr(verdict, 'value', verdict)}[/]")
        for label, value in sorted(materialization.metadata.items()):
            if label.endswith("_path"):
                console.print(f"  {label[:-5]}: {getattr(value, 'value', value)}")
    console.print(
        f"Dagster run {result.run_id} in {os.environ['DAGSTER_HOME']} "
        f"({time.perf_counter() - started:.1f} s). See it with: make ui"
    )
    return 0
