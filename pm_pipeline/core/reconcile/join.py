# Over 300 lines: every query over the two stashes, so that duplicate keys are set aside the same way in each.
"""SQL over the two stashes: duplicates, missing and extra keys, suspect rows, per-column screening stats."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from pm_pipeline.core.canonical.plan import ColumnPlan
from pm_pipeline.core.canonical.values import INFINITE_INSTANT
from pm_pipeline.core.connectors.schema import TypeFamily
from pm_pipeline.core.reconcile.planning import TablePlan

F = TypeFamily
SRC, TGT = "stash_source", "stash_target"
PRUNE_ROWS = 1 << 20  # stashes this large are compared by buckets before they are joined
_BUCKET_ROWS = 512  # rows per bucket, about: few enough that rare differences leave most buckets equal


@dataclass
class JoinOutcome:
    duplicates_source: list[tuple[tuple[Any, ...], int]] = field(default_factory=list)
    duplicates_target: list[tuple[tuple[Any, ...], int]] = field(default_factory=list)
    duplicate_count_source: int = 0
    duplicate_count_target: int = 0
    missing_count: int = 0
    extra_count: int = 0
    matched_count: int = 0
    suspect_count: int = 0
    screened_rule_rows: int = 0  # rows equal only thanks to a declared rule, among screened rows
    # per value-column index: (cells equal only under a rule among screened rows, max abs, max rel)
    screened_rule_counts: dict[int, int] = field(default_factory=dict)
    screened_max_abs: dict[int, float] = field(default_factory=dict)
    screened_max_rel: dict[int, float] = field(default_factory=dict)


def _keys(plan: TablePlan) -> list[str]:
    return [f"k{i}" for i in range(len(plan.keys))]


def _tolerance_screen(index: int, column: ColumnPlan) -> str:
    """SQL that is true when tolerant column ``index`` is surely within tolerance (exact check later)."""
    a, b = f"s.t{index}", f"t.t{index}"
    if column.family in (F.TIMESTAMP, F.TIMESTAMPTZ, F.TIME):
        delta = column.rule.timestamp_tolerance_delta
        micros = 0 if delta is None else round(delta.total_seconds() * 1_000_000)
        # ±infinity is at no distance from anything but itself; differences may pass 64 bits.
        infinite = f"({-INFINITE_INSTANT}, {INFINITE_INSTANT})"
        finite = f"{a} NOT IN {infinite} AND {b} NOT IN {infinite}"
        within = f"({a} = {b} OR ({finite} AND abs(CAST({a} AS HUGEINT) - {b}) <= {micros}))"
    else:
        # Doubles screen decimals too: require a margin so only sure cases pass unverified.
        bound = f"greatest({column.abs_tolerance!r}, {column.rel_tolerance!r} * greatest(abs({a}), abs({b})))"
        within = f"abs({a} - {b}) + 1e-12 * greatest(abs({a}), abs({b})) <= {bound}"
        # An infinite value would make the relative bound infinite too: only equal infinities pass.
        finite = f"isfinite({a}) AND isfinite({b})"
        within = f"(({finite} AND {within}) OR ({a} = {b}) OR (isnan({a}) AND isnan({b})))"
    return f"(({a} IS NULL AND {b} IS NULL) OR ({a} IS NOT NULL AND {b} IS NOT NULL AND {within}))"


def run_join(
    connection: duckdb.DuckDBPyConnection,
    plan: TablePlan,
    *,
    duplicate_sample: int,
    unique: tuple[bool, bool] = (False, False),
    prune_rows: int = PRUNE_ROWS,
) -> JoinOutcome:
    """Classify keys and build table ``suspects`` (canonical and raw keys of rows to diff in detail).

    ``unique`` tells, per side, that the database guarantees one row per canonical key
    (``TablePlan.key_declared_unique``): that side is not searched for duplicates. Without
    duplicate keys, stashes of at least ``prune_rows`` rows are first compared by buckets
    (``_differing_buckets``), and only the rows of buckets that differ are joined.
    """
    keys = _keys(plan)
    key_list = ", ".join(keys)
    out = JoinOutcome()
    sql = connection.execute
    for side, name, declared in (("source", SRC, unique[0]), ("target", TGT, unique[1])):
        if declared:
            sql(f"CREATE TABLE dup_{side} AS SELECT {key_list}, 0::BIGINT AS n FROM {name} LIMIT 0")
            continue
        sql(
            f"CREATE TABLE dup_{side} AS SELECT {key_list}, count(*) AS n FROM {name} "
            f"GROUP BY {key_list} HAVING count(*) > 1"
        )
        count = sql(f"SELECT count(*) FROM dup_{side}").fetchone()
        sample = sql(
            f"SELECT {key_list}, n FROM dup_{side} ORDER BY n DESC, {key_list} LIMIT {int(duplicate_sample)}"
        ).fetchall()
        rows = [(tuple(row[:-1]), int(row[-1])) for row in sample]
        if side == "source":
            out.duplicate_count_source, out.duplicates_source = int(count[0]) if count else 0, rows
        else:
            out.duplicate_count_target, out.duplicates_target = int(count[0]) if count else 0, rows
    tolerant_cols = [(i, p) for i, p in enumerate(plan.values) if p.tolerant]
    ruled_cols = [(i, p) for i, p in enumerate(plan.values) if not p.tolerant and p.has_value_rules]
    screen = " AND ".join(["s.h = t.h", *(_tolerance_screen(i, p) for i, p in tolerant_cols)])
    if not (out.duplicate_count_source or out.duplicate_count_target):
        _classify(connection, plan, out, (SRC, TGT), screen, tolerant_cols, ruled_cols, prune_rows)
        return out
    sides = _set_aside_duplicates(connection, plan)
    _classify(connection, plan, out, sides, screen, tolerant_cols, ruled_cols, None)
    for table in ("missing", "extra"):
        connection.execute(f"INSERT INTO {table} SELECT * FROM {table}_aside")
    out.missing_count += _count(connection, "missing_aside")
    out.extra_count += _count(connection, "extra_aside")
    return out


def _set_aside_duplicates(connection: duckdb.DuckDBPyConnection, plan: TablePlan) -> tuple[str, str]:
    """Take the rows of keys duplicated on either side out of the join: they are reported as
    duplicates and left out of the value diff.

    A source row among them is missing when no target row has its key (a target row extra when
    no source row has it); tables ``missing_aside`` and ``extra_aside`` hold their raw keys, one
    row each. Returns the two stashes without those rows: their keys are unique on each side.
    """
    keys = _keys(plan)
    key_list = ", ".join(keys)
    sql = connection.execute
    sql(
        f"CREATE TABLE duplicated AS SELECT {key_list} FROM dup_source UNION SELECT {key_list} FROM dup_target"
    )
    # GROUP BY found NULL keys duplicated too: they are set aside the same way.
    same = " AND ".join(f"d.{k} IS NOT DISTINCT FROM x.{k}" for k in keys)
    on = " AND ".join(f"x.{k} = o.{k}" for k in keys)  # a NULL key is found on no side
    raw = ", ".join(f"x.r{i} AS r{i}" for i in range(len(keys)))
    for table, name, other in (("missing_aside", SRC, TGT), ("extra_aside", TGT, SRC)):
        sql(
            f"CREATE TABLE {table} AS SELECT {raw} FROM "
            f"(SELECT x.* FROM {name} x SEMI JOIN duplicated d ON {same}) x ANTI JOIN {other} o ON {on}"
        )
    source, target = (f"(SELECT x.* FROM {name} x ANTI JOIN duplicated d ON {same})" for name in (SRC, TGT))
    return source, target


def _stats(column: ColumnPlan, a: str, b: str) -> tuple[str, str, str]:
    """SQL for a tolerant column's values ``a`` and ``b``: not equal, absolute and relative difference."""
    diff = f"abs({a} - {b})"
    rel = f"{diff} / nullif(greatest(abs({a}), abs({b})), 0)"
    if column.family in (F.TIMESTAMP, F.TIMESTAMPTZ, F.TIME):
        diff, rel = f"abs(CAST({a} AS HUGEINT) - {b}) / 1e6", "NULL"
    return f"{a} IS DISTINCT FROM {b}", diff, rel


def _classify(
    connection: duckdb.DuckDBPyConnection,
    plan: TablePlan,
    out: JoinOutcome,
    sides: tuple[str, str],
    screen: str,
    tolerant_cols: list[tuple[int, ColumnPlan]],
    ruled_cols: list[tuple[int, ColumnPlan]],
    prune_rows: int | None,
) -> None:
    """One full outer join of ``sides`` (source and target relations, keys unique on each side)
    classifies every key.

    Its rows are grouped so that all clean matched rows fall into one group, whose aggregates are
    the screening statistics, and every other row is a group of its own: missing, extra and
    suspect rows come out of the same pass, and nothing is stored for the clean rows. Unless
    ``prune_rows`` is None, stashes that large are compared by buckets first: the join then reads
    only the buckets that differ, and the rows of the others count as clean matched rows.
    """
    keys = _keys(plan)
    nkeys = len(keys)
    pruned = None
    if prune_rows is not None:
        pruned = _differing_buckets(connection, plan, tolerant_cols, ruled_cols, prune_rows)
    source, target = sides
    if pruned is not None:
        bucket = _bucket_sql(plan, pruned.count, "x")
        source, target = (
            f"(SELECT x.* FROM {name} x SEMI JOIN differing_buckets d ON {bucket} = d.b)"
            for name in (SRC, TGT)
        )
    on = " AND ".join(f"s.{k} = t.{k}" for k in keys)
    kind = (  # the row hash h is never NULL: a NULL h is the side without the key
        "CASE WHEN t.h IS NULL THEN 'missing' WHEN s.h IS NULL THEN 'extra' "
        f"WHEN NOT ({screen}) THEN 'suspect' END"
    )
    inner = [f"{kind} AS kind"]
    inner += [f"coalesce(s.{k}, t.{k}) AS {k}" for k in keys]
    inner += [f"s.r{i} AS sr{i}, t.r{i} AS tr{i}" for i in range(nkeys)]
    inner += [f"s.t{i} AS st{i}, t.t{i} AS tt{i}" for i, _ in tolerant_cols]
    inner += [f"(s.s{i} IS DISTINCT FROM t.s{i}) AS ruled{i}" for i, _ in ruled_cols]
    picked = [f"any_value({k}) AS {k}" for k in keys]
    picked += [f"any_value(sr{i}) AS sr{i}, any_value(tr{i}) AS tr{i}" for i in range(nkeys)]
    picked += [f"any_value(st{i}) AS st{i}, any_value(tt{i}) AS tt{i}" for i, _ in tolerant_cols]
    picked += [f"bool_or(ruled{i}) AS ruled{i}" for i, _ in ruled_cols]
    under = [f"ruled{i}" for i, _ in ruled_cols]
    stats = ["count(*) AS n"]
    stats += [f"count(*) FILTER (WHERE ruled{i}) AS rc{i}" for i, _ in ruled_cols]
    for i, column in tolerant_cols:
        unequal, diff, rel = _stats(column, f"st{i}", f"tt{i}")
        under.append(unequal)
        stats += [
            f"count(*) FILTER (WHERE {unequal}) AS rc{i}",
            f"max({diff}) AS ma{i}",
            f"max({rel}) AS mr{i}",
        ]
    stats.append(f"count(*) FILTER (WHERE {' OR '.join(under)}) AS under" if under else "0 AS under")
    group = ", ".join(f"CASE WHEN kind IS NOT NULL THEN {k} END" for k in keys)
    connection.execute(
        f"CREATE TABLE classified AS SELECT kind, {', '.join(picked)}, {', '.join(stats)} FROM "
        f"(SELECT {', '.join(inner)} FROM {source} s FULL OUTER JOIN {target} t ON {on}) "
        f"GROUP BY kind, {group}"
    )
    raw = ", ".join(f"sr{i} AS r{i}" for i in range(nkeys))
    connection.execute(f"CREATE TABLE missing AS SELECT {raw} FROM classified WHERE kind = 'missing'")
    raw = ", ".join(f"tr{i} AS r{i}" for i in range(nkeys))
    connection.execute(f"CREATE TABLE extra AS SELECT {raw} FROM classified WHERE kind = 'extra'")
    detail = [*keys, *(f"sr{i}, tr{i}" for i in range(nkeys))]
    detail += [f"st{i}, tt{i}" for i, _ in tolerant_cols] + [f"ruled{i}" for i, _ in ruled_cols]
    connection.execute(
        f"CREATE TABLE suspects AS SELECT {', '.join(detail)}, false AS clean FROM classified "
        "WHERE kind = 'suspect'"
    )
    counts = dict(
        connection.execute("SELECT coalesce(kind, 'clean'), sum(n) FROM classified GROUP BY kind").fetchall()
    )
    out.missing_count = int(counts.get("missing", 0))
    out.extra_count = int(counts.get("extra", 0))
    out.suspect_count = int(counts.get("suspect", 0))
    out.matched_count = int(counts.get("clean", 0)) + out.suspect_count
    names = ["under"] + [f"rc{i}" for i, _ in ruled_cols]
    for i, _ in tolerant_cols:
        names += [f"rc{i}", f"ma{i}", f"mr{i}"]
    row = connection.execute(f"SELECT {', '.join(names)} FROM classified WHERE kind IS NULL").fetchone()
    values = dict(zip(names, row, strict=True)) if row else {}
    if pruned is not None:
        # Rows of equal buckets are equal on both sides, tolerant values too: differences of 0.
        out.matched_count += pruned.rows
        for i, _ in tolerant_cols:
            for name, present in ((f"ma{i}", pruned.valued.get(i, 0)), (f"mr{i}", pruned.nonzero.get(i, 0))):
                if present:
                    values[name] = max(0.0, values.get(name) or 0.0)
    out.screened_rule_rows = int(values.get("under") or 0)
    for i, _ in ruled_cols:
        out.screened_rule_counts[i] = int(values.get(f"rc{i}") or 0)
    for i, _ in tolerant_cols:
        out.screened_rule_counts[i] = int(values.get(f"rc{i}") or 0)
        if values.get(f"ma{i}") is not None:
            out.screened_max_abs[i] = float(values[f"ma{i}"])
        if values.get(f"mr{i}") is not None:
            out.screened_max_rel[i] = float(values[f"mr{i}"])


@dataclass(frozen=True)
class _Pruned:
    """Buckets left out of the join: ``rows`` matched rows, per tolerant column the number of
    non-NULL (``valued``) and non-zero (``nonzero``) values among them."""

    count: int
    rows: int
    valued: dict[int, int]
    nonzero: dict[int, int]


def _bucket_sql(plan: TablePlan, count: int, alias: str = "") -> str:
    keys = ", ".join(f"{alias}.{k}" if alias else k for k in _keys(plan))
    return f"(hash({keys}) & {count - 1})"


def _differing_buckets(
    connection: duckdb.DuckDBPyConnection,
    plan: TablePlan,
    tolerant_cols: list[tuple[int, ColumnPlan]],
    ruled_cols: list[tuple[int, ColumnPlan]],
    prune_rows: int,
) -> _Pruned | None:
    """Compare the stashes bucket by bucket (a hash of the key picks the bucket) and keep, in table
    ``differing_buckets``, those whose row count or XOR of row fingerprints differ; None when the
    stashes are too small to gain from it, or when most buckets differ (no gain either).

    A row's fingerprint hashes everything the join compares: keys, row hash, the strict hashes
    of ruled columns and the tolerant values themselves; hashed once more, because DuckDB combines
    the hashes of several values linearly, and the XOR of two rows whose values changed alike
    would cancel out. Keys being unique on both sides, an equal bucket holds the same rows on both
    sides (as surely as equal row hashes mean equal rows), so each of its rows is a clean match
    whose tolerant values differ by 0.
    """
    sizes = connection.execute(
        f"SELECT (SELECT count(*) FROM {SRC}), (SELECT count(*) FROM {TGT})"
    ).fetchone()
    rows = max(sizes) if sizes else 0
    if rows < prune_rows or rows == 0:
        return None
    count = 1 << max(10, min(20, (rows // _BUCKET_ROWS).bit_length()))
    bucket = _bucket_sql(plan, count)
    fingerprint = ", ".join(
        [*_keys(plan), "h", *(f"s{i}" for i, _ in ruled_cols), *(f"t{i}" for i, _ in tolerant_cols)]
    )
    extra = "".join(
        f", count(t{i}) AS valued{i}, count(*) FILTER (WHERE t{i} <> 0) AS nonzero{i}"
        for i, _ in tolerant_cols
    )
    for side, name in (("source", SRC), ("target", TGT)):
        connection.execute(
            f"CREATE TABLE buckets_{side} AS SELECT {bucket} AS b, count(*) AS n, "
            f"bit_xor(hash(hash({fingerprint}))) AS x{extra} FROM {name} GROUP BY b"
        )
    connection.execute(
        "CREATE TABLE differing_buckets AS SELECT coalesce(s.b, t.b) AS b "
        "FROM buckets_source s FULL OUTER JOIN buckets_target t ON s.b = t.b "
        "WHERE s.n IS DISTINCT FROM t.n OR s.x IS DISTINCT FROM t.x"
    )
    row = connection.execute("SELECT count(*) FROM differing_buckets").fetchone()
    if row is None or row[0] * 2 > count:
        return None
    sums = "".join(f", sum(valued{i}), sum(nonzero{i})" for i, _ in tolerant_cols)
    totals = connection.execute(
        f"SELECT coalesce(sum(n), 0){sums} FROM buckets_source "
        "WHERE b NOT IN (SELECT b FROM differing_buckets)"
    ).fetchone()
    assert totals is not None
    valued = {i: int(totals[1 + 2 * j] or 0) for j, (i, _) in enumerate(tolerant_cols)}
    nonzero = {i: int(totals[2 + 2 * j] or 0) for j, (i, _) in enumerate(tolerant_cols)}
    return _Pruned(count=count, rows=int(totals[0]), valued=valued, nonzero=nonzero)


def run_multiset(connection: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Keyless tables: rows present more often in the source (missing) and in the target (extra)."""
    connection.execute(
        f"CREATE TABLE multiset AS SELECT h, coalesce(s.n, 0) AS ns, coalesce(t.n, 0) AS nt FROM "
        f"(SELECT h, count(*) AS n FROM {SRC} GROUP BY h) s FULL OUTER JOIN "
        f"(SELECT h, count(*) AS n FROM {TGT} GROUP BY h) t USING (h) WHERE coalesce(s.n, 0) <> coalesce(t.n, 0)"
    )
    row = connection.execute(
        "SELECT coalesce(sum(greatest(ns - nt, 0)), 0), coalesce(sum(greatest(nt - ns, 0)), 0) FROM multiset"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _count(connection: duckdb.DuckDBPyConnection, table: str) -> int:
    row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0
