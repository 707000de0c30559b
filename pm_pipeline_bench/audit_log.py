"""How long the keyed audit log takes to append and verify as it grows.

``python -m pm_pipeline_bench.audit_log [RECORDS]`` appends RECORDS keyed records (default 2000)
to a log in a temporary folder, each anchored in a file, then verifies chain, key and anchor;
prints the time per append and of the verification.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


def main(records: int) -> str:
    os.environ.setdefault("PM_AUDIT_KEY", "bench-key-" + "0" * 22)
    from pm_pipeline.core.security.audit import AuditLog

    with tempfile.TemporaryDirectory(prefix="pm-audit-bench-") as folder:
        log = AuditLog(Path(folder) / "audit.jsonl")
        started = time.perf_counter()
        for index in range(records):
            log.append("check.run", actor="bench", data={"index": index, "spec_checksum": "0" * 64})
        appended = time.perf_counter() - started
        started = time.perf_counter()
        result = log.verify()
        verified = time.perf_counter() - started
    assert result.ok and result.records == records, result
    return (
        f"{records} keyed, anchored appends: {appended:.2f} s ({appended / records * 1000:.2f} ms each); "
        f"verify (chain, key, anchor): {verified * 1000:.0f} ms"
    )


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
