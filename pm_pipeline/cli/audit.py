"""`pm-pipeline audit verify`, and the audit records `pm-pipeline check` writes when the spec names a log."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pm_pipeline.cli.common import EXIT_DIFFERENCES, EXIT_OK, current_user, mask_url, remember_secrets
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.security.audit import AuditConfig, AuditLog

if TYPE_CHECKING:
    from pm_pipeline.core.config import MigrationSpec


def _log_from_args(args: argparse.Namespace) -> AuditLog:
    config = AuditConfig()
    path: Path | None = args.log
    if args.spec is not None:
        from pm_pipeline.core.config import load_spec
        from pm_pipeline.core.security.settings import audit_config, audit_log_path

        spec = load_spec(args.spec)
        config = audit_config(spec.audit)
        if path is None:
            path = audit_log_path(spec) or audit_log_path(spec, for_rollback=True)
    if path is None:
        raise BadInputError("pm-pipeline audit verify: name the log, or give --spec")
    if args.key_env:
        config = replace(config, key_env=args.key_env)
    if args.anchor_file:
        config = replace(config, anchor_file=str(args.anchor_file), file_anchor=True)
    if args.anchor_url:
        config = replace(config, anchor_url=args.anchor_url)
    if config.anchor_url:
        remember_secrets(config.anchor_url)
    if path.is_dir():
        raise BadInputError(f"audit log {path}: is a folder, not an audit log")
    return AuditLog(path, config=config)


def run_audit_verify(args: argparse.Namespace) -> int:
    if getattr(args, "tenants", None) is not None:
        if args.log is not None or args.spec is not None:
            raise BadInputError(
                "pm-pipeline audit verify: --tenants verifies every tenant's log; give no log or --spec"
            )
        return _verify_tenants(args.tenants)
    log = _log_from_args(args)
    try:
        verification = log.verify()
    except UnicodeDecodeError as exc:
        print(f"{log.path}: byte {exc.start}: not UTF-8 text, so not an intact audit log")
        return EXIT_DIFFERENCES
    if not verification.ok:
        print(f"{log.path}: line {verification.line}: {verification.problem}")
        return EXIT_DIFFERENCES
    print(f"{log.path}: {verification.records} record(s), chain intact, last hash {verification.last_hash}")
    if verification.keyed:
        older = (
            f"; the first {verification.unkeyed} were written before the key" if verification.unkeyed else ""
        )
        print(
            f"keyed: every record checked with HMAC-SHA256 under {verification.key_id} from {log.config.key_env}{older}"
        )
    elif log.config.key() is not None:
        print(
            f"UNKEYED so far: no record was written with {log.config.key_env} yet; the next record is keyed. "
            "Until then the chain detects accidental damage only, and a rebuild only through its anchors."
        )
    else:
        print(
            f"UNKEYED: {log.config.key_env} is not set, so the chain detects accidental damage only: anyone "
            "who can write the file can rebuild it. Set a key to make forgery detectable."
        )
    for note in verification.anchors:
        print(note)
    for warning in verification.warnings:
        print(f"WARNING: {warning}")
    return EXIT_OK


def _verify_tenants(root: Path) -> int:
    """Each tenant's log verified by its own launcher, so each with only its own key and anchors."""
    import subprocess
    import sys

    from pm_pipeline.core.security.tenants import LAUNCHER, discover_tenants

    codes = []
    for tenant in discover_tenants(root):
        launcher = tenant.folder / LAUNCHER
        if not launcher.is_file():
            raise BadInputError(
                f"tenant {tenant.name}: no {launcher}; run `pm-pipeline workspace {root}` first"
            )
        done = subprocess.run(
            [str(launcher), "-m", "pm_pipeline.cli", "audit", "verify", "--spec", str(tenant.spec)],
            cwd=tenant.folder,
            capture_output=True,
            text=True,
            check=False,
        )
        codes.append(done.returncode)
        state = {EXIT_OK: "intact", EXIT_DIFFERENCES: "BROKEN"}.get(done.returncode, "not verified")
        print(f"tenant {tenant.name}: {state}")
        for line in (done.stdout + done.stderr).splitlines():
            print(f"  {line}")
    sys.stdout.flush()
    # One code for all: a system failure first, then a tenant not verified at all, then a broken chain.
    for code in (3, 2, EXIT_DIFFERENCES):
        if code in codes:
            return code
    return EXIT_OK


def check_audit_log(spec: MigrationSpec, *, spec_path: Path | None) -> AuditLog | None:
    """The log a check run of ``spec`` is recorded in (its ``audit.log``), or None when it names none.

    Resolved (and its key checked) before the run, so a missing key fails fast, not after the work."""
    if spec_path is None:
        return None
    from pm_pipeline.core.security.settings import spec_audit_log

    log = spec_audit_log(spec, origin="cli")
    if log is not None:
        log.require_writable()
        if log.config.anchor_url:
            remember_secrets(log.config.anchor_url)
    return log


_REPORT_FILES = ("manifest.json", "findings.json", "evidence-pack.json", "checksum-manifest.json")


def _report_files(args: argparse.Namespace, report_sets: Mapping[str, Path]) -> dict[str, Path]:
    """The files a check wrote that stand for its reports: each report set's manifest, findings,
    evidence pack and checksum manifest (an audience's under its name), and the ``--json``/``--html``
    files. The sets are the run's own: ``latest`` may point at a concurrent run's by now."""
    named = {"json": args.json, "html": args.html}
    files = {kind: path for kind, path in named.items() if path is not None and path.is_file()}
    for audience, folder in report_sets.items():
        prefix = f"{audience}/" if audience else ""
        files.update({prefix + name: folder / name for name in _REPORT_FILES if (folder / name).is_file()})
    return files


@contextmanager
def audited_failure(log: AuditLog | None, *, args: argparse.Namespace) -> Iterator[None]:
    """A check that ends in an exception is recorded too, by the exception's kind (its message may
    quote values or a driver's text, so it stays out of the log)."""
    try:
        yield
    except BaseException as exc:
        if log is not None:
            record_cli_check(log, args=args, verdict=f"error: {type(exc).__name__}", with_reports=False)
        raise


def record_cli_check(
    log: AuditLog,
    *,
    args: argparse.Namespace,
    verdict: str,
    with_reports: bool = True,
    report_sets: Mapping[str, Path] | None = None,
) -> None:
    """Record the check run (spec checksum, verdict, who, from the CLI) and the reports it wrote."""
    from pm_pipeline.core.config import load_spec, spec_checksum
    from pm_pipeline.core.security.actions import record_check_run, record_reports

    spec = load_spec(args.spec)
    actor = current_user()
    tables = list(args.tables) if args.tables else [mapping.source for mapping in spec.tables]
    record_check_run(
        log,
        actor=actor,
        spec_name=spec.name,
        spec_checksum=spec_checksum(args.spec),
        verdict=verdict,
        tables=tables,
        source=mask_url(spec.source.url),
        target=mask_url(spec.target.url),
    )
    files = _report_files(args, report_sets or {}) if with_reports else {}
    if files:
        record_reports(log, actor=actor, spec_name=spec.name, files=files)
