"""A deterministic orders-like table, its seeded differences and their ground truth, written by DuckDB SQL.

Every value comes from an integer hash of (row id, column salt, seed), so the same rows, seed and
rate give byte-identical files on any machine and DuckDB version. Rows are picked for an edit by
another such hash: each of the seven edits hits ``rate / 6`` of the rows, so the six edits that
must be reported hit ``rate`` of them; the seventh (float noise in the 12th significant digit of
``unit_price``) must not be reported under a relative tolerance of 1e-9.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import duckdb

GENERATOR_VERSION = 1
TABLE = "orders"
COLUMNS = (
    "id",
    "customer_id",
    "quantity",
    "amount",
    "unit_price",
    "status",
    "note",
    "created_at",
    "updated_at",
    "is_paid",
)
STATUSES = ("new", "paid", "shipped", "delivered", "cancelled", "returned")

# Edit codes, in the order their bands are laid out; what each must be reported as.
EDITS: tuple[tuple[str, str | None], ...] = (
    ("missing", "missing"),  # row absent from the target
    ("extra", "extra"),  # row absent from the source
    ("amount", "changed"),  # amount + 1.00
    ("status", "changed"),  # the next status
    ("note_null", "changed"),  # a non-null note set NULL
    ("shift", "changed"),  # updated_at one hour later
    ("float_noise", None),  # unit_price * (1 + 1e-11): equal under rel_tolerance 1e-9
)
_BAND_SPACE = 6_000_000  # six reportable bands of `rate` / 6 each
MIN_RATE = 1 / 1_000_000  # one band unit
MAX_RATE = (_BAND_SPACE // len(EDITS)) / 1_000_000  # all seven bands fit in the band space
MAX_ROWS = 2**32 - 1  # the hash stays exact for ids below 2**32


@dataclass(frozen=True)
class DataSet:
    """Files of one generated data set."""

    directory: Path
    rows: int
    seed: int
    rate: float

    @property
    def source_parquet(self) -> Path:
        return self.directory / "source.parquet"

    @property
    def target_parquet(self) -> Path:
        return self.directory / "target.parquet"

    @property
    def source_csv(self) -> Path:
        return self.directory / "source.csv"

    @property
    def target_csv(self) -> Path:
        return self.directory / "target.csv"

    @property
    def edits_parquet(self) -> Path:
        return self.directory / "edits.parquet"

    @property
    def fingerprint(self) -> str:
        """Identifies the content: a loaded database with the same fingerprint can be reused."""
        return f"v{GENERATOR_VERSION}-rows{self.rows}-seed{self.seed}-rate{self.rate!r}"


def _rnd(expr: str, salt: int) -> str:
    """SQL for a well-mixed 32-bit hash of a BIGINT expression (no overflow for ids below 2**32)."""
    h = f"(({expr}) * 2654435761 + {salt} * 40503) % 4294967296"
    for _ in range(3):
        h = f"xor(({h}), ({h}) >> 16)"
        h = f"(({h}) * 73244475) % 4294967296"
    return f"xor(({h}), ({h}) >> 16)"


def check_rate(rate: float) -> None:
    """Raise ValueError unless ``rate`` gives every edit a band of at least one row in a million."""
    if not (math.isfinite(rate) and MIN_RATE <= rate <= MAX_RATE):
        raise ValueError(
            f"difference rate {rate} must lie between {MIN_RATE:g} and {MAX_RATE:g} "
            f"(each of the {len(EDITS)} edits hits rate / 6 of the rows)"
        )


def check_rows(rows: int) -> None:
    """Raise ValueError unless 1 <= ``rows`` < 2**32."""
    if not 1 <= rows <= MAX_ROWS:
        raise ValueError(f"rows must lie between 1 and 2**32 - 1 ({MAX_ROWS:,}), got {rows:,}")


def _base_sql(*, rows: int, seed: int, rate: float) -> str:
    check_rate(rate)
    check_rows(rows)
    band = round(rate * 1_000_000)
    s = seed * 1000

    def rnd(salt: int) -> str:
        return _rnd("i", s + salt)

    statuses = "[" + ", ".join(f"'{name}'" for name in STATUSES) + "]"
    edit_of = f"CASE WHEN ({rnd(0)}) % {_BAND_SPACE} < {band * len(EDITS)} THEN ({rnd(0)}) % {_BAND_SPACE} // {band} END"
    return f"""
        SELECT i AS id,
               ({edit_of})::INTEGER AS edit,
               (1 + ({rnd(1)}) % 100000)::INTEGER AS customer_id,
               (1 + ({rnd(2)}) % 50)::INTEGER AS quantity,
               ((({rnd(3)}) % 10000000)::DECIMAL(12, 2) / 100)::DECIMAL(12, 2) AS amount,
               0.01 + (({rnd(4)}) % 10000000) / 7000.0 AS unit_price,
               (({rnd(5)}) % 6)::INTEGER AS status_index,
               {statuses} AS statuses,
               ({rnd(6)}) % 10 < 3 AS note_is_null,
               'note ' || (({rnd(7)}) % 100000) || ' for customer ' || (1 + ({rnd(1)}) % 100000) AS note_text,
               TIMESTAMP '2019-01-01' + to_seconds((({rnd(8)}) % 157680000)::BIGINT) AS created_at,
               to_seconds((({rnd(9)}) % 7776000)::BIGINT) AS age,
               ({rnd(10)}) % 2 = 0 AS is_paid
        FROM range(1, {rows} + 1) AS r(i)
    """


def _side_sql(side: str) -> str:
    code = {name: index for index, (name, _) in enumerate(EDITS)}
    edit = "coalesce(edit, -1)"
    if side == "source":
        return f"""
            SELECT id, customer_id, quantity, amount, unit_price, statuses[status_index + 1] AS status,
                   CASE WHEN note_is_null AND {edit} <> {code["note_null"]} THEN NULL ELSE note_text END AS note,
                   created_at, created_at + age AS updated_at, is_paid
            FROM base WHERE {edit} <> {code["extra"]}
        """
    return f"""
        SELECT id, customer_id, quantity,
               CASE WHEN {edit} = {code["amount"]} THEN amount + 1 ELSE amount END::DECIMAL(12, 2) AS amount,
               CASE WHEN {edit} = {code["float_noise"]} THEN unit_price * (1 + 1e-11) ELSE unit_price END AS unit_price,
               statuses[(status_index + CASE WHEN {edit} = {code["status"]} THEN 1 ELSE 0 END) % 6 + 1] AS status,
               CASE WHEN {edit} = {code["note_null"]} OR note_is_null THEN NULL ELSE note_text END AS note,
               created_at,
               created_at + age + CASE WHEN {edit} = {code["shift"]} THEN INTERVAL 1 HOUR ELSE INTERVAL 0 HOUR END
                   AS updated_at,
               is_paid
        FROM base WHERE {edit} <> {code["missing"]}
    """


def _edits_sql() -> str:
    names = "[" + ", ".join(f"'{name}'" for name, _ in EDITS) + "]"
    expected = "[" + ", ".join(f"'{kind}'" if kind else "NULL" for _, kind in EDITS) + "]"
    return f"""
        SELECT id, {names}[edit + 1] AS edit, {expected}[edit + 1] AS expected
        FROM base WHERE edit IS NOT NULL ORDER BY id
    """


def generate(*, directory: Path, rows: int, seed: int, rate: float, csv: bool) -> DataSet:
    """Write source/target Parquet (and CSV when ``csv``) and the edits with their expected finding.

    CSV files left in ``directory`` by another data set are deleted first, as is the marker
    that :func:`is_complete` reads (written again last)."""
    directory.mkdir(parents=True, exist_ok=True)
    data = DataSet(directory=directory, rows=rows, seed=seed, rate=rate)
    for stale in (_marker(data), data.source_csv, data.target_csv):
        stale.unlink(missing_ok=True)
    connection = duckdb.connect()
    try:
        connection.execute(f"CREATE TEMP VIEW base AS {_base_sql(rows=rows, seed=seed, rate=rate)}")
        for side, path in (("source", data.source_parquet), ("target", data.target_parquet)):
            connection.execute(f"COPY ({_side_sql(side)}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
        connection.execute(f"COPY ({_edits_sql()}) TO '{data.edits_parquet}' (FORMAT parquet)")
        if csv:
            write_csv(data)
    finally:
        connection.close()
    _marker(data).write_text(json.dumps({"fingerprint": data.fingerprint}))
    return data


def write_csv(data: DataSet) -> None:
    """CSV for COPY and LOAD DATA: NULL as \\N, booleans as 1/0 (MariaDB reads 'true' as 0).

    Each file is written under a temporary name and renamed when complete, so a CSV that
    exists is whole."""
    connection = duckdb.connect()
    try:
        for parquet, csv in ((data.source_parquet, data.source_csv), (data.target_parquet, data.target_csv)):
            partial = csv.with_name(f"{csv.name}.partial")
            connection.execute(
                f"COPY (SELECT * REPLACE (is_paid::INTEGER AS is_paid) FROM read_parquet('{parquet}')) "
                f"TO '{partial}' (FORMAT csv, HEADER false, NULLSTR '\\N')"
            )
            partial.replace(csv)
    finally:
        connection.close()


def csv_is_current(data: DataSet) -> bool:
    """True when both CSV files exist and were written after this data set's Parquet files."""
    pairs = ((data.source_csv, data.source_parquet), (data.target_csv, data.target_parquet))
    return all(
        csv.exists() and parquet.exists() and csv.stat().st_mtime_ns >= parquet.stat().st_mtime_ns
        for csv, parquet in pairs
    )


def _marker(data: DataSet) -> Path:
    return data.directory / "dataset.json"


def is_complete(data: DataSet) -> bool:
    """True when a previous run left this exact data set (same rows, seed, rate, generator)."""
    marker = _marker(data)
    if not marker.exists() or not data.edits_parquet.exists():
        return False
    return bool(json.loads(marker.read_text()).get("fingerprint") == data.fingerprint)
