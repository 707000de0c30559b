"""Query plans reduced to one small model: per table the access path (a scan, or which index),
the estimated rows and the cost, whatever the engine's EXPLAIN looks like.

PostgreSQL and MariaDB/MySQL give JSON; SQLite's EXPLAIN QUERY PLAN and DuckDB's EXPLAIN give text.
Nothing of a plan's conditions (which hold the parameter values) is kept but the column names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pm_pipeline.core.dialects import Dialect
from pm_pipeline.core.dialects.duckdb import DuckDbDialect
from pm_pipeline.core.dialects.mysql import MySqlDialect
from pm_pipeline.core.dialects.postgres import PostgresDialect
from pm_pipeline.core.dialects.sqlite import SqliteDialect

SCAN = "scan"
INDEX = "index"


@dataclass(frozen=True)
class TableAccess:
    """How a plan reads one table."""

    table: str
    path: str  # SCAN or INDEX
    index: str | None = None
    rows: float | None = None
    columns: tuple[str, ...] = ()  # filter, join and order columns the plan names for this table

    @property
    def label(self) -> str:
        return f"index {self.index}" if self.path == INDEX and self.index else self.path


@dataclass(frozen=True)
class Plan:
    engine: str
    tables: tuple[TableAccess, ...]
    cost: float | None = None  # the engine's own unit: comparable only within one engine
    rows: float | None = None

    def access(self, table: str) -> TableAccess | None:
        """The first access to ``table`` (any case); an index access wins over a scan."""
        found = [t for t in self.tables if t.table.lower() == table.lower()]
        return next((t for t in found if t.path == INDEX), found[0] if found else None)

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "cost": self.cost,
            "rows": self.rows,
            "tables": [
                {"table": t.table, "access": t.label, "rows": t.rows, "columns": list(t.columns)}
                for t in self.tables
            ],
        }


@dataclass
class _Collected:
    tables: list[TableAccess] = field(default_factory=list)


_IDENT = re.compile(r'"((?:[^"]|"")+)"|\b([A-Za-z_][\w$]*)\b')
_COMPARED = re.compile(
    r'(?:\b[A-Za-z_][\w$]*\.)?("(?:[^"]|"")+"|`(?:[^`]|``)+`|\b[A-Za-z_][\w$]*\b)\)?\s*(?:::[\w ]+)?\s*'
    r"(?:=|<>|!=|<=|>=|<|>|~~\*?|!~~|\bIN\b|\bLIKE\b|\bBETWEEN\b|\bIS\b)",
    re.IGNORECASE,
)
_SORT_COLUMN = re.compile(r'^(?:[A-Za-z_][\w$]*\.)?("(?:[^"]|"")+"|[A-Za-z_][\w$]*)')
_NOT_COLUMNS = {"and", "or", "not", "null", "true", "false", "any", "all", "text", "integer", "bigint"}


def condition_columns(condition: str | None) -> tuple[str, ...]:
    """Column names compared in a plan's condition text (``(email = 'x'::text)`` -> ``email``)."""
    if not condition:
        return ()
    # Literals go first: a value must never be taken for a column (nor kept).
    text = re.sub(r"'(?:[^']|'')*'", "''", condition)
    names: list[str] = []
    for match in _COMPARED.finditer(text):
        name = match.group(1).strip('"`').replace('""', '"')
        if name.lower() not in _NOT_COLUMNS and not name[0].isdigit() and name not in names:
            names.append(name)
    return tuple(names)


# -- PostgreSQL ------------------------------------------------------------------------------
_PG_SCANS = {"Seq Scan", "Parallel Seq Scan"}
_PG_INDEX = {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}


def _pg_nodes(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield node
    for child in node.get("Plans", ()) or ():
        yield from _pg_nodes(child)


def _pg_bitmap_index(node: Mapping[str, Any]) -> tuple[str | None, str | None]:
    for child in _pg_nodes(node):
        if child.get("Node Type") == "Bitmap Index Scan":
            return child.get("Index Name"), child.get("Index Cond")
    return None, None


def parse_postgres(document: Any) -> Plan:
    """``EXPLAIN (FORMAT JSON)`` output (a list holding one object with its ``Plan``)."""
    if isinstance(document, str):
        document = json.loads(document)
    root = document[0]["Plan"]
    tables: list[TableAccess] = []
    sort_columns: list[str] = []
    for node in _pg_nodes(root):
        kind = node.get("Node Type", "")
        for key in node.get("Sort Key", ()) or ():
            found = _SORT_COLUMN.match(str(key))
            if found:
                sort_columns.append(found.group(1).strip('"'))
        relation = node.get("Relation Name")
        if relation is None or kind not in _PG_SCANS | _PG_INDEX:
            continue
        conditions = [node.get(k) for k in ("Filter", "Index Cond", "Recheck Cond", "Join Filter")]
        index = node.get("Index Name")
        if kind == "Bitmap Heap Scan":
            index, condition = _pg_bitmap_index(node)
            conditions.append(condition)
        columns = tuple(dict.fromkeys(c for text in conditions for c in condition_columns(text)))
        tables.append(
            TableAccess(
                table=str(relation),
                path=SCAN if kind in _PG_SCANS else INDEX,
                index=None if kind in _PG_SCANS else index,
                rows=node.get("Plan Rows"),
                columns=columns,
            )
        )
    tables = _with_sort_columns(tables, sort_columns)
    return Plan(
        engine=PostgresDialect.name,
        tables=tuple(tables),
        cost=root.get("Total Cost"),
        rows=root.get("Plan Rows"),
    )


def _with_sort_columns(tables: list[TableAccess], sort_columns: Sequence[str]) -> list[TableAccess]:
    if len(tables) != 1 or not sort_columns:
        return tables  # with several tables a sort key cannot be told apart
    only = tables[0]
    merged = tuple(dict.fromkeys([*only.columns, *sort_columns]))
    return [TableAccess(only.table, only.path, only.index, only.rows, merged)]


# -- MariaDB / MySQL -------------------------------------------------------------------------
def _my_tables(node: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(node, Mapping):
        if "table_name" in node and "access_type" in node:
            yield node
        for value in node.values():
            yield from _my_tables(value)
    elif isinstance(node, list):
        for value in node:
            yield from _my_tables(value)


def parse_mysql(document: Any) -> Plan:
    """``EXPLAIN FORMAT=JSON`` output of MariaDB or MySQL."""
    if isinstance(document, str):
        document = json.loads(document)
    tables: list[TableAccess] = []
    for node in _my_tables(document):
        access = str(node.get("access_type", "")).upper()
        key = node.get("key")
        # "index" reads the whole index: a scan, whatever the key (MariaDB counts rows that way).
        scanned = access in ("ALL", "INDEX") or key is None
        columns = list(condition_columns(node.get("attached_condition")))
        columns += [str(part) for part in node.get("used_key_parts", ()) or ()]
        rows = node.get("rows", node.get("rows_examined_per_scan"))
        tables.append(
            TableAccess(
                table=str(node["table_name"]),
                path=SCAN if scanned else INDEX,
                index=None if scanned else str(key),
                rows=None if rows is None else float(rows),
                columns=tuple(dict.fromkeys(c.strip("`") for c in columns)),
            )
        )
    block = document.get("query_block", {}) if isinstance(document, Mapping) else {}
    cost = block.get("cost") or (block.get("cost_info") or {}).get("query_cost")
    return Plan(engine=MySqlDialect.name, tables=tuple(tables), cost=None if cost is None else float(cost))


# -- SQLite ----------------------------------------------------------------------------------
_SQLITE = re.compile(
    r"^(?:SCAN|SEARCH)\s+(?P<table>\"(?:[^\"]|\"\")+\"|\S+)(?:\s+AS\s+\S+)?"
    r"(?:\s+USING\s+(?:COVERING\s+)?(?:INDEX\s+(?P<index>\S+)|(?P<pk>INTEGER PRIMARY KEY)|(?P<auto>AUTOMATIC)))?"
    r"(?:.*?\((?P<cond>[^)]*)\))?",
    re.IGNORECASE,
)


def parse_sqlite(details: Sequence[str]) -> Plan:
    """The ``detail`` column of ``EXPLAIN QUERY PLAN`` rows (``SEARCH t USING INDEX i (email=?)``)."""
    tables: list[TableAccess] = []
    for detail in details:
        found = _SQLITE.match(detail.strip())
        if not found:
            continue
        index = found.group("index") or ("PRIMARY KEY" if found.group("pk") else None)
        indexed = detail.strip().upper().startswith("SEARCH") and index is not None
        columns = tuple(
            part.split("=")[0].split(">")[0].split("<")[0].strip()
            for part in (found.group("cond") or "").split(" AND ")
            if part.strip()
        )
        tables.append(
            TableAccess(
                table=found.group("table").strip('"'),
                path=INDEX if indexed else SCAN,
                index=index if indexed else None,
                columns=tuple(c for c in columns if c),
            )
        )
    return Plan(engine=SqliteDialect.name, tables=tuple(tables))


# -- DuckDB ----------------------------------------------------------------------------------
def _duck_nodes(node: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(node, Mapping):
        yield node
        for child in node.get("children", ()) or ():
            yield from _duck_nodes(child)
    elif isinstance(node, list):
        for child in node:
            yield from _duck_nodes(child)


def parse_duckdb(document: Any) -> Plan:
    """DuckDB's ``EXPLAIN (FORMAT JSON)`` physical plan: its scans with their table and filters."""
    if isinstance(document, str):
        document = json.loads(document)
    tables: list[TableAccess] = []
    for node in _duck_nodes(document):
        info = node.get("extra_info") or {}
        table = info.get("Table") if isinstance(info, Mapping) else None
        if not table:
            continue
        name = str(node.get("name", ""))
        rows = str(info.get("Estimated Cardinality", "")).lstrip("~").replace(",", "")
        filters = info.get("Filters")
        tables.append(
            TableAccess(
                table=str(table).rsplit(".", 1)[-1].strip('"'),
                path=INDEX if "INDEX" in name.upper() else SCAN,
                rows=float(rows) if rows.isdigit() else None,
                columns=condition_columns(" AND ".join(filters) if isinstance(filters, list) else filters),
            )
        )
    return Plan(engine=DuckDbDialect.name, tables=tuple(tables))


# -- by dialect ------------------------------------------------------------------------------
# The rows of each dialect's ``explain`` statement as a plan; a dialect not listed gives none.
_READERS: dict[type[Dialect], Callable[[Sequence[tuple[Any, ...]]], Plan]] = {
    PostgresDialect: lambda rows: parse_postgres(rows[0][0]),
    MySqlDialect: lambda rows: parse_mysql(json.loads(rows[0][0])),
    SqliteDialect: lambda rows: parse_sqlite([str(row[-1]) for row in rows]),
    DuckDbDialect: lambda rows: parse_duckdb(json.loads(rows[0][-1])),
}


def plan_reader(dialect: Dialect) -> Callable[[Sequence[tuple[Any, ...]]], Plan] | None:
    """How the rows of ``dialect.explain(...)`` become a :class:`Plan`; None where they do not."""
    return _READERS.get(type(dialect))
