"""Which tables a run compares, under which target names, and which columns pair up.

Tables and columns are paired by their exact name, then up to case, then by normalised name
(case, snake_case / camelCase / PascalCase and separators removed): a migration that renamed by
convention (``OrderItems.OrderId`` -> ``order_items.order_id``) is compared without a spec. A
normalised pairing is applied only when it is unambiguous both ways, and each one is reported as
an INFO finding so the user sees the mapping the run used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from pm_pipeline.core.check_errors import Unit, guarded
from pm_pipeline.core.config.spec import MigrationSpec, TableMapping
from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.errors import BadInputError, TableNotFoundError
from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.core.names import RunNames, column_map, find_name, match_by_key, name_key, run_names
from pm_pipeline.core.schema.renames import suggest_renames
from pm_pipeline.core.schema.type_map import canonical_engine

CHECK = "schema"
RULE = "normalised_name"


@dataclass(frozen=True)
class TableSelection:
    """The tables a run compares, findings about the selection itself (tables found on one side
    only, pairings by normalised name, tables that cannot be compared), and the run's names."""

    mappings: tuple[TableMapping, ...]
    findings: tuple[Finding, ...] = ()
    names: RunNames = field(default_factory=RunNames)
    # source table -> (source schema, target schema), read once for the whole run
    schemas: Mapping[str, tuple[TableSchema, TableSchema]] = field(default_factory=dict)


def _matched_info(table: str, source: str, target: str, *, column: str | None) -> Finding:
    what = "" if column else "table "
    return Finding(
        table=table,
        category=Category.COLUMN_RENAMED,
        severity=Severity.INFO,
        column=column,
        source_value=source,
        target_value=target,
        rule=RULE,
        message=f"{what}matched by normalised name: {source} -> {target}",
        check=CHECK,
    )


def _spec_target(mapping: TableMapping, target_tables: Sequence[str], target: Connector) -> str:
    found = find_name(mapping.target_name, target_tables)
    if found is None:
        candidates = [name for name in target_tables if name_key(name) == name_key(mapping.target_name)]
        found = candidates[0] if len(candidates) == 1 and name_key(mapping.target_name) else None
    if found is None:
        raise TableNotFoundError(
            f"table {mapping.target_name!r} named in the spec does not exist in the target {target.describe()}"
        )
    return found


def _discover_columns(
    mapping: TableMapping, source: TableSchema, target: TableSchema
) -> tuple[TableMapping, list[Finding]]:
    """Columns left unpaired by renames, names and case, paired by normalised name into ``renames``.
    A column the spec renames or ignores keeps what the spec says."""
    paired = column_map(mapping, source, target)
    declared = set(mapping.renames) | set(mapping.ignore)
    left = [c.name for c in source.columns if c.name not in paired and c.name not in declared]
    claimed = set(paired.values())
    found = match_by_key(left, [name for name in target.column_names if name not in claimed])
    if not found:
        return mapping, []
    renames = {**mapping.renames, **found}
    findings = [_matched_info(mapping.source, src, tgt, column=src) for src, tgt in found.items()]
    return mapping.model_copy(update={"renames": renames}), findings


def _unpaired_key(
    mapping: TableMapping, source: TableSchema, target: TableSchema, *, engines: tuple[str, str]
) -> Finding | None:
    """An error finding when a key column has no target counterpart: rows cannot be matched, so the
    table is left out of the run instead of stopping it. A key the spec names but the source lacks
    is a spec mistake and stays one (plan_table says so)."""
    paired = column_map(mapping, source, target)
    keys = [name for name in (mapping.key or source.primary_key) if name in source.column_names]
    lost = [name for name in keys if name not in paired]
    if not lost:
        return None
    hints = ""
    src_engine, tgt_engine = (canonical_engine(engine) for engine in engines)
    if src_engine is not None and tgt_engine is not None:
        claimed = set(paired.values())
        suggestions = suggest_renames(
            missing=[source.column(name) for name in lost],
            extra=[c for c in target.columns if c.name not in claimed],
            source_engine=src_engine,
            target_engine=tgt_engine,
        )
        hints = "".join(f"; {s.source_column} looks renamed to {s.target_column}" for s in suggestions)
    return Finding(
        table=mapping.source,
        category=Category.COLUMN_MISSING,
        severity=Severity.ERROR,
        column=", ".join(lost),
        rule="key_column",
        message=(
            f"key column(s) {', '.join(lost)} have no counterpart in target table {mapping.target_name}"
            f"{hints}; map them under 'renames' (or set 'key'): the table's rows are not compared"
        ),
        check=CHECK,
    )


def select_tables(spec: MigrationSpec, *, source: Connector, target: Connector) -> TableSelection:
    """The spec's tables (each must exist on both sides) plus, with ``discover``, every table of the
    source found in the target by name, case or normalised name; columns paired likewise."""
    source_tables = source.list_tables()
    target_tables = target.list_tables()
    mappings: list[TableMapping] = []
    findings: list[Finding] = []
    for mapping in spec.tables:
        if mapping.source not in source_tables:
            raise TableNotFoundError(
                f"table {mapping.source!r} named in the spec does not exist in the source {source.describe()}"
            )
        found = _spec_target(mapping, target_tables, target)
        if found != mapping.target_name:
            if found.lower() != mapping.target_name.lower():
                findings.append(_matched_info(mapping.source, mapping.target_name, found, column=None))
            mapping = mapping.model_copy(update={"target": found})
        mappings.append(mapping)
    if spec.discover:
        mappings.extend(_discover_tables(source_tables, target_tables, mappings, findings))
        if not mappings and not findings:
            raise BadInputError(
                f"no tables to compare: the source {source.describe()} and the target {target.describe()} "
                "have no table in common"
            )
    kept: list[TableMapping] = []
    schemas: dict[str, tuple[TableSchema, TableSchema]] = {}
    for mapping in mappings:
        # One table whose catalog cannot be read is a check_error of its own; the others still run.
        read, error = guarded(
            Unit("schema", "introspection", mapping.source),
            partial(_introspect, source, target, mapping),
            connectors=(source, target),
        )
        if read is None:
            findings.extend([error] if error else [])
            continue
        source_schema, target_schema = read
        mapping, matched = _discover_columns(mapping, source_schema, target_schema)
        findings.extend(matched)
        lost = _unpaired_key(mapping, source_schema, target_schema, engines=(source.engine, target.engine))
        if lost is not None:
            findings.append(lost)
            continue
        kept.append(mapping)
        schemas[mapping.source] = (source_schema, target_schema)
    return TableSelection(
        mappings=tuple(kept), findings=tuple(findings), names=run_names(kept, schemas), schemas=schemas
    )


def _introspect(
    source: Connector, target: Connector, mapping: TableMapping
) -> tuple[TableSchema, TableSchema]:
    return source.introspect(mapping.source), target.introspect(mapping.target_name)


def _discover_tables(
    source_tables: Sequence[str],
    target_tables: Sequence[str],
    named: Sequence[TableMapping],
    findings: list[Finding],
) -> list[TableMapping]:
    """Mappings for the source tables the spec does not name, in the source's order; a table with
    no counterpart becomes a ``table_missing`` finding."""
    taken = {m.source for m in named}
    claimed = {m.target_name for m in named}
    # Exact names first: a case-folded match listed earlier must not take a table's own name.
    matches = {name: name for name in source_tables if name not in taken and name in target_tables}
    matches = {name: found for name, found in matches.items() if found not in claimed}
    claimed |= set(matches.values())
    for name in source_tables:
        if name in taken or name in matches:
            continue
        found = find_name(name, [t for t in target_tables if t not in claimed])
        if found is not None:
            matches[name] = found
            claimed.add(found)
    left = [name for name in source_tables if name not in taken and name not in matches]
    by_key = match_by_key(left, [t for t in target_tables if t not in claimed])
    mappings: list[TableMapping] = []
    for name in source_tables:
        if name in taken:
            continue
        match = matches.get(name) or by_key.get(name)
        if match is None:
            findings.append(
                Finding(
                    table=name,
                    category=Category.TABLE_MISSING,
                    severity=Severity.ERROR,
                    message=f"table {name} exists in the source but not in the target",
                    check=CHECK,
                )
            )
            continue
        if name in by_key:
            findings.append(_matched_info(name, name, match, column=None))
        mappings.append(TableMapping(source=name, target=match))
    return mappings
