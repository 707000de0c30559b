"""Expectations for a target table: generated from the source's data, plus those the spec declares.

Generated expectations state what the source guarantees (no NULLs, unique values, a small set of
values, a range, string lengths) in the comparison family of each column pair of the TablePlan,
spelled with target names, so that a correct migration meets every one of them:

- a boolean pair (tinyint(1) -> boolean) gets at most a not-null; a SET, array, JSON, float or
  binary pair only a not-null; enum labels are compared as text, lengths in characters;
- ranges only for integer, decimal, date and naive timestamp columns that are neither key nor
  identity (an extra row is reconciliation's finding, not a range's), widened by declared tolerances;
- declared rules weaken what is expected: NULL-like values ('' under ``null_equals_empty``, zero
  dates) count as NULL; a value map, trim, case folding or NFC leaves no set, length or uniqueness.

Each generated expectation holds on the source: not-null, uniqueness and lengths by construction
of the profile (:mod:`.profile`: one scan of the table beside a bounded sample, exact duplicate
counts only for what the sample cannot settle, one bounded grouped query for value sets); ranges
and value sets whose bounds a driver may round are evaluated on the source with the same SQL
(source names) and dropped if it fails them, while the target counts every candidate in one scan.
Where the engine has a 64-bit text hash (PostgreSQL), a text's duplicates are counted on the
hashes, several times faster than on the texts: no repeated hash proves no duplicate, and a count
a finding states is always taken again on the texts. Where the reconciliation read whole tables, its
own count of each column's repeated values settles uniqueness on both sides the same way, without a
scan.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from pm_pipeline.core.check_errors import Unit, check_error_finding, databases_answer, guarded, is_check_error
from pm_pipeline.core.config.integrity import IntegritySettings
from pm_pipeline.core.connectors.base import THREAD_SAFE_ENGINES, Connector
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.findings import ColumnFacts, Finding
from pm_pipeline.core.integrity.early import EarlyStatement, HeadStart
from pm_pipeline.core.integrity.eligible import Eligibility
from pm_pipeline.core.integrity.profile import SURE_SURPLUS, held_unique, profile_candidates, profile_sql
from pm_pipeline.core.integrity.read_profile import ReadProfile
from pm_pipeline.core.integrity.sql_expectations import (
    GeneratedExpectation,
    count_unexpected,
    exact_surplus,
)
from pm_pipeline.core.reconcile.planning import TablePlan

CHECK = "integrity"


@dataclass(frozen=True)
class ExpectationCall:
    """One declared expectation on one target table: its GX type and keyword arguments."""

    type: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    origin: Literal["profile", "spec"] = "spec"

    @property
    def column(self) -> str | None:
        value = self.kwargs.get("column")
        return None if value is None else str(value)

    @property
    def label(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items() if k != "column")
        return f"{self.type}({args})" if args else self.type


@dataclass(frozen=True)
class GeneratedSuite:
    """The generated expectations that hold on the source, and what could not be evaluated there."""

    expectations: tuple[GeneratedExpectation, ...]
    errors: tuple[Finding, ...] = ()


def declared_suite(settings: IntegritySettings, table: str) -> list[ExpectationCall]:
    """The expectations the spec declares for target table ``table``."""
    return [ExpectationCall(type=d.type, kwargs=d.kwargs) for d in settings.expectations.get(table, [])]


def generate_expectations(
    source: Connector,
    target: Connector,
    *,
    plan: TablePlan,
    value_set_max: int,
    zones_known: bool = True,
    source_schema: TableSchema | None = None,
) -> GeneratedSuite:
    """The expectations the source's data satisfies, each checked on the source before it is kept.

    ``zones_known``: whether the plan carries the zones naive timestamps were written in; without
    them, naive timestamps get no range (a shifted zone would move every value). ``source_schema``:
    its one-column unique keys hold uniqueness without counting duplicates."""
    suite, _ = generate_and_count(
        source,
        target,
        plan=plan,
        value_set_max=value_set_max,
        zones_known=zones_known,
        source_schema=source_schema,
    )
    return suite


def generate_and_count(
    source: Connector,
    target: Connector,
    *,
    plan: TablePlan,
    value_set_max: int,
    zones_known: bool = True,
    source_schema: TableSchema | None = None,
    target_schema: TableSchema | None = None,
    count_target: bool = False,
    facts: ColumnFacts | None = None,
    early: HeadStart | None = None,
) -> tuple[GeneratedSuite, list[int | Exception]]:
    """``generate_expectations``, and with ``count_target`` each kept expectation's unexpected rows
    in the target: the source's check of its candidates and the target's count of the same
    candidates run at the same time (one scan each), and the target's counts of the candidates the
    source did not keep are dropped. ``facts``: what the reconciliation's reading pass learned of
    the columns (``TableReconciliation.column_facts``): each side's repeated values settle
    uniqueness, and the source's distinct values the value sets, without a scan of their own.
    ``early``: the profile's first statement, started ahead (:func:`start_profile`)."""
    source_repeats, target_repeats = facts.repeats if facts is not None else ({}, {})
    source_values = facts.source_values if facts is not None else {}
    eligible = _eligible(source, target, plan, zones_known)
    if not eligible:
        return GeneratedSuite(()), []
    held = held_unique(source_schema)
    profiled, error = guarded(
        Unit(CHECK, "expectation profile of the source", plan.target_table),
        partial(
            profile_candidates,
            source,
            plan.table,
            eligible,
            value_set_max,
            held,
            repeats=source_repeats,
            known_values=source_values,
            execute=None if early is None else early.execute,
        ),
        connectors=[source],
    )
    if profiled is None:
        return GeneratedSuite((), (error,) if error else ()), []
    unproven = [c.expectation for c in profiled if not c.proven]
    candidates = [c.expectation for c in profiled]

    def on_source() -> list[int | Exception]:
        counts = count_unexpected(source, table=plan.table, expectations=unproven, side="source", hashed=True)
        return [_settled(source, plan.table, e, c) for e, c in zip(unproven, counts, strict=True)]

    def on_target() -> list[int | Exception]:
        if not count_target:
            return []
        return count_unexpected(
            target,
            table=plan.target_table,
            expectations=candidates,
            side="target",
            held_unique=held_unique(target_schema),
            hashed=True,
            distinct={name for name, repeated in target_repeats.items() if repeated == 0},
        )

    if count_target and source is not target and {source.engine, target.engine} <= THREAD_SAFE_ENGINES:
        with ThreadPoolExecutor(max_workers=2) as pool:
            from_source, from_target = pool.submit(on_source), pool.submit(on_target)
            source_counts, target_counts = from_source.result(), from_target.result()
    else:
        source_counts, target_counts = on_source(), on_target()
    counts = dict(zip(map(id, unproven), source_counts, strict=True))
    kept: list[GeneratedExpectation] = []
    kept_counts: list[int | Exception] = []
    errors: list[Finding] = []
    for index, candidate in enumerate(profiled):
        expectation = candidate.expectation
        counted = 0 if candidate.proven else counts[id(expectation)]
        if isinstance(counted, Exception):
            unit = Unit(CHECK, f"expectation {expectation.label} on the source", plan.target_table)
            errors.append(
                check_error_finding(_with_column(unit, expectation), counted, secrets=_secrets(source))
            )
        elif counted == 0:
            kept.append(expectation)
            if count_target:
                kept_counts.append(
                    _exact_on_target(target, plan.target_table, expectation, target_counts[index])
                )
    return GeneratedSuite(tuple(kept), tuple(errors)), kept_counts


def start_profile(
    source: Connector,
    target: Connector,
    *,
    plan: TablePlan,
    zones_known: bool = True,
    source_schema: TableSchema | None = None,
    whole_read: bool = False,
) -> HeadStart | None:
    """The first statement of the profile :func:`generate_and_count` takes of the same table, ahead
    of it: measured on the reconciliation's read of the source's whole table where that read is
    to come (``whole_read``) and the source's SQL is one :class:`.read_profile.ReadProfile` measures
    (its tap must then see the read), else started now on a connection of its own (see
    :mod:`.early`). None where it should wait: an embedded or paced source, a table no column of
    which may get an expectation."""
    eligible = _eligible(source, target, plan, zones_known)
    if not eligible:
        return None
    if whole_read and (measured := ReadProfile.for_table(source, plan.table, eligible, source_schema)):
        return measured
    if not EarlyStatement.may_start(source):
        return None
    return EarlyStatement(source, profile_sql(source, plan.table, eligible, held_unique(source_schema)))


def _eligible(source: Connector, target: Connector, plan: TablePlan, zones_known: bool) -> list[Eligibility]:
    keys = {p.name for p in plan.keys}
    return [
        Eligibility(source, target, p, key=p.name in keys, zones_known=zones_known) for p in plan.all_plans
    ]


def _settled(
    source: Connector, table: str, expectation: GeneratedExpectation, counted: int | Exception
) -> int | Exception:
    """Whether the source keeps a candidate, from a count on hashes: 0 keeps it, a surplus of
    three or more drops it (three colliding 64-bit hashes among 100 million distinct values have
    a probability below 1e-11, and a collision could only leave a uniqueness expectation out,
    never raise a finding), one or two are counted again on the texts."""
    if isinstance(counted, Exception) or counted == 0 or counted >= SURE_SURPLUS:
        return counted
    return _recounted(source, table, expectation, counted, side="source")


def _exact_on_target(
    target: Connector, table: str, expectation: GeneratedExpectation, counted: int | Exception
) -> int | Exception:
    """The target's exact count of a kept expectation (a finding states it)."""
    if isinstance(counted, Exception):
        return counted
    return _recounted(target, table, expectation, counted, side="target")


def _recounted(
    connector: Connector,
    table: str,
    expectation: GeneratedExpectation,
    counted: int,
    *,
    side: Literal["source", "target"],
) -> int | Exception:
    """The exact count, or the database's error in its place (this expectation's check_error; the
    others keep their counts). A server that no longer answers stops the check."""
    try:
        return exact_surplus(connector, table=table, expectation=expectation, side=side, counted=counted)
    except Exception as exc:
        if not (is_check_error(exc) and databases_answer([connector])):
            raise
        return exc


def _with_column(unit: Unit, expectation: GeneratedExpectation) -> Unit:
    return Unit(unit.check, unit.what, unit.table, expectation.column)


def _secrets(*connectors: Connector) -> list[str | None]:
    return [connector.url.password for connector in connectors]
