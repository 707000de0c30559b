"""Keys, unique and check constraints, indexes, foreign keys and sequences, compared after renames.

Everything is matched by the columns it covers, never by its name: engines and migration tools
name constraints and indexes as they please.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pm_pipeline.core.connectors.schema import TableSchema
from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.core.names import RunNames, name_key


@dataclass(frozen=True)
class Context:
    table: str
    source: TableSchema
    target: TableSchema
    column_map: Mapping[str, str]  # source column -> target column, matched columns only
    table_renames: Mapping[str, str]  # source table -> target table, for foreign keys
    names: RunNames | None = None  # the run's names: parent tables and columns of foreign keys

    def mapped(self, columns: Iterable[str]) -> tuple[str, ...] | None:
        """The target names of ``columns``, or None if any is unmatched (already reported as a column)."""
        out = tuple(self.column_map.get(col, "") for col in columns)
        return None if "" in out else out

    def finding(
        self,
        category: Category,
        severity: Severity,
        columns: tuple[str, ...],
        *,
        source_value: str | None,
        target_value: str | None,
        rule: str,
        message: str,
    ) -> Finding:
        return Finding(
            table=self.table,
            category=category,
            severity=severity,
            column=columns[0] if len(columns) == 1 else None,
            source_value=source_value,
            target_value=target_value,
            rule=rule,
            message=message,
            check="schema",
        )


def _cols(columns: Iterable[str]) -> str:
    return "(" + ", ".join(columns) + ")"


def primary_key(ctx: Context) -> list[Finding]:
    if not ctx.source.primary_key:
        return []
    wanted = ctx.mapped(ctx.source.primary_key)
    if wanted is None or set(wanted) == set(ctx.target.primary_key):
        return []
    have = _cols(ctx.target.primary_key) if ctx.target.primary_key else "none"
    return [
        ctx.finding(
            Category.PRIMARY_KEY_MISSING, Severity.ERROR, ctx.source.primary_key,
            source_value=f"PRIMARY KEY {_cols(ctx.source.primary_key)}", target_value=have,
            rule="primary_key",
            message=f"primary key {_cols(wanted)} is missing in the target (target primary key: {have}); "
            "duplicate keys can now be inserted",
        )
    ]  # fmt: skip


def _unique_sets(schema: TableSchema, *, with_pk: bool) -> list[tuple[str, ...]]:
    found = [uc.columns for uc in schema.unique_constraints] + [
        ix.columns for ix in schema.indexes if ix.unique
    ]
    if with_pk and schema.primary_key:
        found.append(schema.primary_key)
    unique: dict[frozenset[str], tuple[str, ...]] = {}
    for columns in found:
        unique.setdefault(frozenset(columns), columns)
    return list(unique.values())


def unique_constraints(ctx: Context) -> list[Finding]:
    """A unique constraint or unique index of the source must be guaranteed by the target, in any form."""
    have = {frozenset(cols) for cols in _unique_sets(ctx.target, with_pk=True)}
    findings = []
    for columns in _unique_sets(ctx.source, with_pk=False):
        wanted = ctx.mapped(columns)
        if wanted is None or set(columns) == set(ctx.source.primary_key) or frozenset(wanted) in have:
            continue
        findings.append(
            ctx.finding(
                Category.CONSTRAINT_MISSING, Severity.ERROR, columns,
                source_value=f"UNIQUE {_cols(columns)}", target_value=None, rule="unique",
                message=f"unique constraint on {_cols(wanted)} is missing in the target; duplicates can now be inserted",
            )
        )  # fmt: skip
    return findings


def _identifiers(expression: str) -> list[str]:
    return re.findall(r"[A-Za-z_][A-Za-z0-9_$]*", expression.replace("`", "").replace('"', ""))


def normalise_check(expression: str, rename: Mapping[str, str] | None = None) -> str:
    """Engine spelling removed: CHECK, quotes, casts, parentheses, white space and case."""
    text = expression.replace("`", "").replace('"', "").lower()
    text = re.sub(r"^\s*check\s*", "", text)
    if rename:
        lowered = {key.lower(): value.lower() for key, value in rename.items()}
        text = re.sub(r"[a-z_][a-z0-9_$]*", lambda m: lowered.get(m.group(0), m.group(0)), text)
    text = re.sub(r"::\s*[a-z_][a-z0-9_ ]*(\(\d+(,\s*\d+)?\))?", "", text)
    return re.sub(r"[\s()]", "", text)


def check_constraints(ctx: Context) -> list[Finding]:
    """Matched by normalised text, then by the set of columns the expression mentions."""
    target_names = {name.lower() for name in ctx.target.column_names}
    have_text = {normalise_check(check.expression) for check in ctx.target.check_constraints}
    have_columns = {
        frozenset(word.lower() for word in _identifiers(check.expression) if word.lower() in target_names)
        for check in ctx.target.check_constraints
    }
    source_names = {name.lower(): name for name in ctx.source.column_names}
    findings = []
    for check in ctx.source.check_constraints:
        used = sorted(
            {source_names[w.lower()] for w in _identifiers(check.expression) if w.lower() in source_names}
        )
        wanted = ctx.mapped(used)
        if wanted is None or normalise_check(check.expression, ctx.column_map) in have_text:
            continue
        if used and frozenset(name.lower() for name in wanted) in have_columns:
            continue
        findings.append(
            ctx.finding(
                Category.CONSTRAINT_MISSING, Severity.ERROR, tuple(used),
                source_value=f"CHECK {check.expression}", target_value=None, rule="check",
                message=f"check constraint {check.name or ''} {check.expression} is missing in the target; "
                "values it rejects can now be stored",
            )
        )  # fmt: skip
    return findings


def indexes(ctx: Context) -> list[Finding]:
    """A non-unique source index is present when a target index, unique constraint or key starts with
    the same columns; the primary key's index and unique indexes (see unique_constraints) are skipped."""
    covering = [ix.columns for ix in ctx.target.indexes] + [
        uc.columns for uc in ctx.target.unique_constraints
    ]
    if ctx.target.primary_key:
        covering.append(ctx.target.primary_key)
    findings = []
    for index in ctx.source.indexes:
        wanted = ctx.mapped(index.columns)
        if index.unique or wanted is None or index.columns == ctx.source.primary_key:
            continue
        if any(have[: len(wanted)] == wanted for have in covering):
            continue
        findings.append(
            ctx.finding(
                Category.INDEX_MISSING, Severity.WARNING, index.columns,
                source_value=f"INDEX {index.name} {_cols(index.columns)}", target_value=None, rule="index",
                message=f"no target index starts with {_cols(wanted)} (source index {index.name}); "
                "queries filtering or joining on it may become slow",
            )
        )  # fmt: skip
    return findings


def _table_name(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _parent(ctx: Context, table: str, columns: tuple[str, ...]) -> tuple[str, tuple[str, ...] | None]:
    """A source foreign key's parent in target names: through the run's names when the parent is
    compared too, else through ``table_renames`` with its columns unknown (None)."""
    if ctx.names is not None:
        target_table = ctx.names.target_table(table)
        if target_table is not None:
            return target_table, ctx.names.target_columns(table, columns)
    return ctx.table_renames.get(table, table), None


def _fk_key(columns: Iterable[str], ref_table: str, ref_columns: Iterable[str] | None) -> tuple[str, ...]:
    # Compared by normalised name: engines fold case, and a parent the run does not map may be
    # spelled by convention (OrderType -> order_type) in the target.
    parent = () if ref_columns is None else (*map(name_key, ref_columns),)
    return (*(name_key(c) for c in columns), "->", name_key(_table_name(ref_table)), *parent)


def foreign_keys(ctx: Context) -> list[Finding]:
    """A source foreign key is kept when a target one has the same columns and parent table, and
    the same parent columns when the run knows how the parent's columns were renamed."""
    have = {_fk_key(fk.columns, fk.ref_table, fk.ref_columns) for fk in ctx.target.foreign_keys}
    have |= {_fk_key(fk.columns, fk.ref_table, None) for fk in ctx.target.foreign_keys}
    findings = []
    for fk in ctx.source.foreign_keys:
        wanted = ctx.mapped(fk.columns)
        ref, ref_columns = _parent(ctx, fk.ref_table, fk.ref_columns)
        if wanted is None or _fk_key(wanted, ref, ref_columns) in have:
            continue
        findings.append(
            ctx.finding(
                Category.FOREIGN_KEY_MISSING, Severity.ERROR, fk.columns,
                source_value=f"FOREIGN KEY {_cols(fk.columns)} REFERENCES {fk.ref_table} {_cols(fk.ref_columns)}",
                target_value=None, rule="foreign_key",
                message=f"foreign key {_cols(wanted)} -> {ref}{_cols(ref_columns or fk.ref_columns)} is missing "
                "in the target; orphan rows can now be stored",
            )
        )  # fmt: skip
    return findings
