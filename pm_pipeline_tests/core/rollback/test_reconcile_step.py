"""The plan's last steps: a restored table that differs from its snapshot fails them, with its rows named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pm_pipeline.core.errors import IntegrityRefusal
from pm_pipeline.core.rollback import create_snapshot, execute_plan, run_step
from pm_pipeline.core.security.audit import AuditLog

from . import data

pytestmark = pytest.mark.postgres


def test_a_difference_after_the_restore_fails_with_its_rows(pg_db: Any, tmp_path: Path) -> None:
    pg_db.execute(*data.PG_SCHEMA)
    manifest = create_snapshot(pg_db.url, tables=data.TABLES, snapshot_dir=tmp_path / "snap")
    exports = tmp_path / "exports"
    plan, audit = data.approved_plan(
        pg_db.url, manifest, tmp_path, approvers=("alice",), approvals_required=1
    )
    execute_plan(plan, audit_log=audit, export_dir=exports, dry_run=False)
    # A writer that was not frozen changes the target right after the restore committed.
    pg_db.execute(
        "UPDATE customers SET name = 'late write' WHERE id = 7", "INSERT INTO customers (name) VALUES ('x')"
    )

    messages = {}
    for step in ("verify_restore", "reconcile"):
        with pytest.raises(IntegrityRefusal, match="customers: 0 missing, 1 extra, 1 changed") as info:
            run_step(plan, plan.step(step), audit_log=audit, export_dir=exports, dry_run=False)
        messages[step] = str(info.value)
    assert messages["verify_restore"].startswith("restored table customers has 301 rows")
    assert "orders: 600 of 600 rows match" in messages["reconcile"]

    reconciled = [r for r in AuditLog(audit).records() if r.event == "rollback.reconciled"]
    assert [r.data["passed"] for r in reconciled] == [True, False]
    tables = {t["table"]: t for t in reconciled[-1].data["tables"]}
    assert tables["orders"]["passed"] and tables["order_items"]["matched_rows"] == 1200
    customers = tables["customers"]
    assert (customers["changed_rows"], customers["extra_rows"], customers["passed"]) == (1, 1, False)
    changed = pq.read_table(Path(customers["diff_path"]) / "changed_cells.parquet").to_pylist()
    assert [(row["column"], row["target_value"]) for row in changed] == [("name", "late write")]
