"""PostgreSQL ±infinity dates and timestamps against the same infinities in PostgreSQL and DuckDB:
equal under every strategy, with and without a spec, and never equal to a finite value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import yaml

from pm_pipeline.cli import main
from pm_pipeline.core.canonical.values import INFINITE_INSTANT, canonicalize
from pm_pipeline.core.config.spec import ColumnRule, TableMapping
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.reconcile.planning import plan_table
from pm_pipeline_tests.conftest import PgDatabase

STRATEGIES = ("arrow", "pushdown", "bucket")
COLUMNS = "id int PRIMARY KEY, d date, ts timestamp, tz timestamptz"
# Valid-from/valid-to tables keep 'infinity' as "forever"; a finite row beside them shows that
# finite values still compare as before, NULL that no value meets infinity by accident.
ROWS = {
    1: ("infinity", "infinity", "infinity"),
    2: ("-infinity", "-infinity", "-infinity"),
    3: ("2024-02-29", "2024-02-29 10:00:00.5", "2024-02-29 08:00:00+00"),
    4: (None, None, None),
    5: ("1969-12-31", "1900-01-01 00:00:00", "0001-01-01 00:00:00+00"),
}
# Each defect stands for a loader bug seen in migrations: infinity clamped to the type's largest
# or smallest finite value (or to NULL), a finite value written as infinity, the sign lost.
DEFECTS = {
    1: ("9999-12-31", "infinity", "infinity"),  # +infinity date clamped to the last day
    2: ("-infinity", "infinity", "-infinity"),  # -infinity timestamp lost its sign
    3: ("2024-02-29", "2024-02-29 10:00:00.5", "infinity"),  # a finite instant became infinity
    4: (None, None, "-infinity"),  # NULL became -infinity
    5: ("1969-12-31", "0001-01-01 00:00:00", None),  # -infinity as the year 1, +infinity lost to NULL
}
DEFECTIVE_CELLS = {(1, "d"), (2, "ts"), (3, "tz"), (4, "tz"), (5, "ts"), (5, "tz")}


def _literal(value: str | None) -> str:
    return "NULL" if value is None else f"'{value}'"


def _values(rows: dict[int, tuple[str | None, ...]]) -> str:
    return ", ".join(f"({key}, {', '.join(map(_literal, row))})" for key, row in rows.items())


def _source_rows() -> dict[int, tuple[str | None, ...]]:
    rows = dict(ROWS)
    rows[5] = ("1969-12-31", "-infinity", "infinity")
    return rows


def _target(kind: str, pg_db2: PgDatabase, tmp_path: Path, rows: dict[int, tuple[str | None, ...]]) -> str:
    if kind == "postgres":
        pg_db2.execute(f"CREATE TABLE ev ({COLUMNS})", f"INSERT INTO ev VALUES {_values(rows)}")
        return pg_db2.url
    path = tmp_path / "target.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute(f"CREATE TABLE ev ({COLUMNS})")
        connection.execute(f"INSERT INTO ev VALUES {_values(rows)}")
    return f"duckdb:///{path}"


def _check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, source: str, target: str, *, strategy: str, spec: bool
) -> tuple[int, str, list[dict[str, Any]]]:
    findings_json = tmp_path / "out" / "findings.json"
    if spec:
        spec_file = tmp_path / "migration.yaml"
        spec_file.write_text(
            yaml.safe_dump(
                {"source": {"url": source}, "target": {"url": target}, "tables": [{"source": "ev"}]}
            )
        )
        where = ["--spec", str(spec_file)]
    else:
        where = ["--source", source, "--target", target]
    args = ["check", *where, "--strategy", strategy, "--no-progress", "--json", str(findings_json)]
    code = main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    findings = json.loads(findings_json.read_text())["findings"]
    return code, out + err, findings


@pytest.mark.postgres
@pytest.mark.parametrize("spec", [False, True], ids=["urls", "spec"])
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_infinities_migrated_whole_pass(
    target: str,
    strategy: str,
    spec: bool,
    pg_db: PgDatabase,
    pg_db2: PgDatabase,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # ADBC hands PostgreSQL's infinities over wrapped around (a year near -290278), DuckDB as
    # ±(2^63 - 1): a correct PostgreSQL -> DuckDB copy failed every row holding one.
    rows = _source_rows()
    pg_db.execute(f"CREATE TABLE ev ({COLUMNS})", f"INSERT INTO ev VALUES {_values(rows)}")
    target_url = _target(target, pg_db2, tmp_path, rows)
    code, output, findings = _check(capsys, tmp_path, pg_db.url, target_url, strategy=strategy, spec=spec)
    flagged = [(f["category"], f.get("key"), f.get("column")) for f in findings if f["severity"] != "info"]
    assert (code, flagged) == (0, []), output


@pytest.mark.postgres
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_infinity_turned_finite_or_the_reverse_is_reported_by_key(
    target: str,
    strategy: str,
    pg_db: PgDatabase,
    pg_db2: PgDatabase,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pg_db.execute(f"CREATE TABLE ev ({COLUMNS})", f"INSERT INTO ev VALUES {_values(_source_rows())}")
    target_url = _target(target, pg_db2, tmp_path, DEFECTS)
    code, output, findings = _check(capsys, tmp_path, pg_db.url, target_url, strategy=strategy, spec=False)
    assert code == 1, output
    mismatches = [f for f in findings if f["category"] == "value_mismatch"]
    assert {(f["key"]["id"], f["column"]) for f in mismatches} == DEFECTIVE_CELLS
    shown = {
        (f["key"]["id"], f["column"]): (f["source_canonical"], f["target_canonical"]) for f in mismatches
    }
    assert shown[(1, "d")] == ("infinity", "9999-12-31")
    assert shown[(2, "ts")] == ("-infinity", "infinity")
    assert shown[(3, "tz")] == ("2024-02-29T08:00:00Z", "infinity")
    assert shown[(5, "ts")] == ("-infinity", "0001-01-01T00:00:00Z")
    # Python's datetime cannot hold the raw values either: they are shown by name, not as numbers.
    raw = {(f["key"]["id"], f["column"]): (f["source_value"], f["target_value"]) for f in mismatches}
    assert raw[(2, "ts")] == ("-infinity", "infinity")
    assert raw[(1, "d")][0] == "infinity"


@pytest.mark.postgres
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_timestamp_tolerance_never_reaches_infinity(
    strategy: str, pg_db: PgDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A tolerance is a distance, and infinity is at none: the subtraction overflowed 64 bits in
    # the DuckDB screen, and the largest finite instant sat within a second of +infinity.
    pg_db.execute(
        "CREATE TABLE ev (id int PRIMARY KEY, ts timestamp)",
        "INSERT INTO ev VALUES (1, 'infinity'), (2, '-infinity'), (3, '2024-01-01 10:00:00'), (4, 'infinity')",
    )
    path = tmp_path / "target.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE ev (id int PRIMARY KEY, ts timestamp)")
        connection.execute(
            "INSERT INTO ev VALUES (1, 'infinity'), (2, '2024-01-01'), (3, '2024-01-01 10:00:00.4'),"
            " (4, make_timestamp(9223372036854775806))"
        )
    spec_file = tmp_path / "migration.yaml"
    spec_file.write_text(
        yaml.safe_dump({
            "source": {"url": pg_db.url}, "target": {"url": f"duckdb:///{path}"},
            "tables": [{"source": "ev", "columns": {"ts": {"timestamp_tolerance": "1s"}}}],
        })
    )  # fmt: skip
    findings_json = tmp_path / "findings.json"
    args = [
        "check",
        "--spec",
        str(spec_file),
        "--strategy",
        strategy,
        "--no-progress",
        "--json",
        str(findings_json),
    ]
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 1, out + err
    findings = json.loads(findings_json.read_text())["findings"]
    assert {f["key"]["id"] for f in findings if f["category"] == "value_mismatch"} == {2, 4}


# The raw Arrow values each reader hands over for ('infinity', '-infinity', a finite value).
def _pg_arrow(pg_db: PgDatabase) -> pa.Table:
    pg_db.execute(
        f"CREATE TABLE ev ({COLUMNS})",
        "INSERT INTO ev VALUES (1, 'infinity', 'infinity', 'infinity'), (2, '-infinity', '-infinity', '-infinity'),"
        " (3, '2000-01-01', '2000-01-01', '2000-01-01+00')",
    )
    with connect(pg_db.url) as connector:
        return connector.query_arrow("SELECT d, ts, tz FROM ev ORDER BY id")


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("column", "rule", "expected"),
    [
        # Date infinities: the words, whatever the reader's day numbers.
        pytest.param("d", ColumnRule(), ["infinity", "-infinity", "2000-01-01"], id="date"),
        # A naive timestamp read in a zone must not shift infinity (Arrow refused the shift).
        pytest.param(
            "ts",
            ColumnRule(source_timezone="Europe/Paris"),
            [INFINITE_INSTANT, -INFINITE_INSTANT, 946_681_200_000_000],
            id="timestamp-in-a-zone",
        ),
        # Truncation to seconds moved +infinity to a finite instant.
        pytest.param(
            "tz",
            ColumnRule(timestamp_precision="s"),
            [INFINITE_INSTANT, -INFINITE_INSTANT, 946_684_800_000_000],
            id="timestamptz-truncated",
        ),
    ],
)
def test_canonical_infinities_of_postgres_values(
    column: str, rule: ColumnRule, expected: list[Any], pg_db: PgDatabase
) -> None:
    table = _pg_arrow(pg_db)
    with connect(pg_db.url) as connector:
        schema = connector.introspect("ev")
    mapping = TableMapping(source="ev", key=["id"], columns={column: rule})
    plan = next(
        p for p in plan_table(mapping=mapping, source=schema, target=schema).values if p.name == column
    )
    got = canonicalize(table.column(column), plan=plan, side="source", strict=False)
    assert got.to_pylist() == expected


# A date migrated into a timestamp column (PostgreSQL and DuckDB cast date 'infinity' to timestamp
# 'infinity'), and timestamps kept as text (a CSV load) spelling infinity as PostgreSQL prints it.
@pytest.mark.postgres
@pytest.mark.parametrize("source_type", ["date", "text"])
def test_infinity_reads_the_same_from_another_type(source_type: str, pg_db: PgDatabase) -> None:
    values = "(1, 'infinity'), (2, '-infinity'), (3, '2000-01-01'), (4, NULL)"
    pg_db.execute(
        f"CREATE TABLE a (id int PRIMARY KEY, v {source_type})",
        "CREATE TABLE b (id int PRIMARY KEY, v timestamp)",
        f"INSERT INTO a VALUES {values}",
        f"INSERT INTO b VALUES {values}",
    )
    with connect(pg_db.url) as connector:
        schemas = [connector.introspect(name) for name in ("a", "b")]
        tables = [connector.query_arrow(f"SELECT v FROM {name} ORDER BY id") for name in ("a", "b")]
    plan = plan_table(mapping=TableMapping(source="a", target="b"), source=schemas[0], target=schemas[1])
    (column,) = plan.values
    source = canonicalize(tables[0].column("v"), plan=column, side="source", strict=True)
    target = canonicalize(tables[1].column("v"), plan=column, side="target", strict=True)
    expected = [INFINITE_INSTANT, -INFINITE_INSTANT, 946_684_800_000_000, None]
    assert source.to_pylist() == target.to_pylist() == expected


@pytest.mark.postgres
@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_temporal_rules_read_infinity_as_no_instant(
    target: str, pg_db: PgDatabase, pg_db2: PgDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Declared temporal rules: 'infinity' counted as a value after the cut-over (on PostgreSQL the
    # driver could not even read it: a check error), and a range bounded by infinity could not be shown.
    pg_db.execute(f"CREATE TABLE ev ({COLUMNS})", f"INSERT INTO ev VALUES {_values(_source_rows())}")
    spec: dict[str, Any] = {
        "source": {"url": pg_db.url},
        "target": {"url": _target(target, pg_db2, tmp_path, _source_rows())},
        "tables": [{"source": "ev"}],
        "integrity": {"temporal": [{"table": "ev", "columns": ["d", "ts", "tz"]}]},
    }
    spec_file = tmp_path / "migration.yaml"
    spec_file.write_text(yaml.safe_dump(spec))
    findings_json = tmp_path / "findings.json"
    args = ["check", "--spec", str(spec_file), "--no-progress", "--json", str(findings_json)]
    code = main(args)
    out, err = capsys.readouterr()
    findings = json.loads(findings_json.read_text())["findings"]
    assert (code, [f["category"] for f in findings if f["severity"] != "info"]) == (0, []), out + err

    # The same target with +infinity clamped to the last day of year 9999: the range differs.
    clamped = "UPDATE ev SET ts = '9999-12-31 23:59:59' WHERE ts = 'infinity'"
    if target == "postgres":
        pg_db2.execute(clamped)
    else:
        with duckdb.connect(str(tmp_path / "target.duckdb")) as connection:
            connection.execute(clamped)
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 1, out + err
    findings = json.loads(findings_json.read_text())["findings"]
    ranges = [f["message"] for f in findings if f.get("rule") == "range equals source"]
    assert ranges == [
        "ts spans -infinity .. 9999-12-31T23:59:59Z in the target but -infinity .. infinity in the source"
    ]
    assert "check_error" not in {f["category"] for f in findings}


@pytest.mark.postgres
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_infinity_in_keys_and_arrays_matches(
    target: str,
    strategy: str,
    pg_db: PgDatabase,
    pg_db2: PgDatabase,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # History tables key rows by their validity bounds, 'infinity' among them; PostgreSQL arrays
    # arrive as their text ('{infinity,...}'), DuckDB lists as typed values: both must meet.
    table = "kv (d date, ts timestamp, arr timestamptz[], v int, PRIMARY KEY (d, ts))"
    rows = (
        "INSERT INTO kv VALUES ('infinity', 'infinity', {}, 1), ('-infinity', '2024-01-01', {}, 2),"
        " ('2024-01-01', '-infinity', NULL, {})"
    )
    pg_db.execute(
        f"CREATE TABLE {table}", rows.format("'{infinity,-infinity,2024-01-01}'", "'{-infinity}'", 3)
    )
    if target == "postgres":
        lists = ("'{infinity,-infinity,2024-01-01}'", "'{-infinity}'")
        pg_db2.execute(f"CREATE TABLE {table}", rows.format(*lists, 4))
        target_url = pg_db2.url
    else:
        path = tmp_path / "target.duckdb"
        with duckdb.connect(str(path)) as connection:
            connection.execute(f"CREATE TABLE {table}")
            connection.execute(
                rows.format("['infinity', '-infinity', '2024-01-01 00:00+00']", "['-infinity']", 4)
            )
        target_url = f"duckdb:///{path}"
    findings_json = tmp_path / "findings.json"
    # Integrity checks left out: their findings on row 3 are consequences of the same change.
    args = ["check", "--source", pg_db.url, "--target", target_url, "--strategy", strategy]
    code = main([*args, "--no-integrity", "--no-progress", "--json", str(findings_json)])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    findings = json.loads(findings_json.read_text())["findings"]
    flagged = {(f["category"], f.get("column")) for f in findings if f["severity"] != "info"}
    # Only row 3's v differs (3 -> 4), found by a key holding -infinity: DuckDB handed the key to
    # Python as datetime.min, which selected no row, and the difference went unreported.
    assert flagged == {("value_mismatch", "v")}, out
    (mismatch,) = [f for f in findings if f["category"] == "value_mismatch"]
    assert mismatch["key"] == {"d": "2024-01-01", "ts": "-infinity"}
