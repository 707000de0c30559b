"""The names of a whole run: which target table and column each source table and column became.

Built once from the mappings and both schemas, so that every check naming a column of its own
table or of another one (a foreign key's parent) speaks of the same target names reconciliation
compares: declared renames first, then the exact name, then the name up to case (PostgreSQL folds
unquoted names), exactly as plan_table pairs columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.findings import Finding, TableReconciliation


def name_key(name: str) -> str:
    """A name without case, word style or separators: ``OrderItems``, ``order_items``,
    ``orderItems`` and ``Order-Items`` share the key ``orderitems``."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def find_name(wanted: str, available: Sequence[str]) -> str | None:
    """``wanted`` itself, else its only match up to case; None when absent or ambiguous."""
    if wanted in available:
        return wanted
    folded = [name for name in available if name.lower() == wanted.lower()]
    return folded[0] if len(folded) == 1 else None


def match_by_key(left: Iterable[str], right: Iterable[str]) -> dict[str, str]:
    """Pairs of names with equal :func:`name_key`, kept only where that key is unique on both sides:
    two candidates either way is a guess, and a guessed pairing would compare the wrong data."""
    by_key_left: dict[str, list[str]] = {}
    by_key_right: dict[str, list[str]] = {}
    for name in left:
        by_key_left.setdefault(name_key(name), []).append(name)
    for name in right:
        by_key_right.setdefault(name_key(name), []).append(name)
    return {
        names[0]: by_key_right[key][0]
        for key, names in by_key_left.items()
        if key and len(names) == 1 and len(by_key_right.get(key, ())) == 1
    }


def column_map(mapping: TableMapping, source: TableSchema, target: TableSchema) -> dict[str, str]:
    """Source column -> target column for every compared column (ignored ones left out), paired as
    plan_table pairs them; each target column is claimed once."""
    available = target.column_names
    claimed: set[str] = set()
    pairs: dict[str, str] = {}
    for column in source.columns:
        if column.name in mapping.ignore:
            continue
        found = find_name(mapping.renames.get(column.name, column.name), available)
        if found is not None and found not in claimed:
            pairs[column.name] = found
            claimed.add(found)
    return pairs


@dataclass(frozen=True)
class TableNames:
    """One mapped table's target name and its column map.

    ``resolved`` is False when the map was built without the schemas (declared renames only): a
    column it does not list then keeps its name, to be looked up in the target by whoever uses it.
    """

    source: str
    target: str
    columns: Mapping[str, str]
    resolved: bool = True

    def column(self, name: str) -> str | None:
        if name in self.columns:
            return self.columns[name]
        return None if self.resolved else name


@dataclass(frozen=True)
class RunNames:
    """Source table -> its :class:`TableNames`, for every table the run compares."""

    tables: Mapping[str, TableNames] = field(default_factory=dict)

    def table(self, source_table: str) -> TableNames | None:
        found = self.tables.get(source_table)
        if found is None:
            # A foreign key may spell its parent in another case than the parent's own listing.
            folded = [names for name, names in self.tables.items() if name.lower() == source_table.lower()]
            found = folded[0] if len(folded) == 1 else None
        return found

    def target_table(self, source_table: str) -> str | None:
        names = self.table(source_table)
        return None if names is None else names.target

    def target_columns(self, source_table: str, columns: Sequence[str]) -> tuple[str, ...] | None:
        """The target names of ``columns`` of ``source_table``; None if the table is not mapped or a
        column has no counterpart."""
        names = self.table(source_table)
        if names is None:
            return None
        out = tuple(names.column(name) for name in columns)
        return None if any(name is None for name in out) else tuple(name for name in out if name is not None)


def run_names(
    mappings: Iterable[TableMapping], schemas: Mapping[str, tuple[TableSchema, TableSchema]]
) -> RunNames:
    """The run's names from its mappings and each mapped table's (source, target) schemas; a table
    without schemas keeps its declared renames only."""
    tables: dict[str, TableNames] = {}
    for mapping in mappings:
        pair = schemas.get(mapping.source)
        if pair is None:
            tables[mapping.source] = TableNames(
                mapping.source, mapping.target_name, dict(mapping.renames), resolved=False
            )
        else:
            tables[mapping.source] = TableNames(
                mapping.source, mapping.target_name, column_map(mapping, *pair)
            )
    return RunNames(tables)


def names_from_mappings(mappings: Iterable[TableMapping]) -> RunNames:
    """The run's names when no schema is at hand: target tables and declared renames."""
    return run_names(mappings, {})


def names_from_tables(table_names: Mapping[str, str]) -> RunNames:
    """The run's names from source table -> target table alone (no column is known)."""
    return RunNames({s: TableNames(s, t, {}, resolved=False) for s, t in table_names.items()})


def resolve_columns(wanted: Sequence[str], available: Sequence[str]) -> tuple[str, ...] | None:
    """``wanted`` spelled as in ``available``: the name, its case-folded match, or its only match by
    normalised name; None if any column is not found."""
    out: list[str] = []
    for name in wanted:
        found = find_name(name, available)
        if found is None:
            candidates = [have for have in available if name_key(have) == name_key(name)]
            found = candidates[0] if len(candidates) == 1 and name_key(name) else None
        if found is None:
            return None
        out.append(found)
    return tuple(out)


def _inverse_columns(mapping: TableMapping, table: TableReconciliation | None) -> dict[str, str]:
    """Target column (lower case) -> source column for one mapped table: the compared columns as
    reconciliation paired them, then the declared (or discovered) renames."""
    inverse = {target.lower(): source for source, target in mapping.renames.items()}
    if table is not None:
        for name in table.key_columns:
            inverse.setdefault(mapping.renames.get(name, name).lower(), name)
        inverse.update({stats.target_column.lower(): stats.column for stats in table.columns})
    return inverse


def in_source_names(
    findings: Sequence[Finding],
    *,
    tables: Iterable[TableReconciliation] = (),
    mappings: Iterable[TableMapping] = (),
) -> tuple[Finding, ...]:
    """Integrity findings (checked in the target, so spelled in target names) renamed into the
    source names every other finding uses: table, column(s) and key columns. A report then lists
    one table once, whatever the migration renamed, and a column's classification applies to its
    integrity findings too. Findings of other checks, and names no mapping knows, are unchanged."""
    by_source = {table.table: table for table in tables}
    by_target = {m.target_name.lower(): m for m in mappings}
    renamed: list[Finding] = []
    for finding in findings:
        mapping = by_target.get(finding.table.lower()) if finding.check == "integrity" else None
        if mapping is None:
            renamed.append(finding)
            continue
        columns = _inverse_columns(mapping, by_source.get(mapping.source))

        def source_name(name: str, columns: Mapping[str, str] = columns) -> str:
            return columns.get(name.strip().lower(), name.strip())

        column = (
            None
            if finding.column is None
            else ", ".join(source_name(part) for part in finding.column.split(","))
        )
        key = None if finding.key is None else {source_name(k): v for k, v in finding.key.items()}
        renamed.append(replace(finding, table=mapping.source, column=column, key=key))
    return tuple(renamed)
