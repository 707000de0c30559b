"""The performance monitor on real PostgreSQL databases: a target that lost two indexes and a unique
constraint has exactly the three queries that used them reported, each with HypoPG-proven advice,
and a correct target raises nothing, run after run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pm_pipeline.core.config.performance import PerformanceSettings
from pm_pipeline.core.connectors import connect
from pm_pipeline.core.findings import Category, Severity
from pm_pipeline.core.perf import run_workload
from pm_pipeline.core.perf.apply import index_plan
from pm_pipeline_tests.conftest import PgDatabase, make_pg_database

pytestmark = pytest.mark.postgres

ROWS = 60_000
TABLES = (
    "CREATE TABLE customers (id integer PRIMARY KEY, email text NOT NULL, name text NOT NULL, "
    "city text NOT NULL, signup date NOT NULL)",
    f"INSERT INTO customers SELECT i, 'user' || i || '@example.com', 'name ' || i, 'city ' || (i % 40), "
    f"date '2020-01-01' + (i % 900) FROM generate_series(1, {ROWS}) i",
    "CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer NOT NULL, total numeric(10,2) NOT NULL)",
    f"INSERT INTO orders SELECT i, 1 + (i * 7919) % {ROWS}, (i % 1000) / 10.0 FROM generate_series(1, {ROWS}) i",
)
INDEXES = (
    "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email)",
    "CREATE INDEX customers_name_idx ON customers (name)",
    "CREATE INDEX orders_customer_idx ON orders (customer_id)",
)

WORKLOAD = {
    "repetitions": 12,
    "warmup": 1,
    "allow_hypopg": True,
    "workload": [
        # Each of the first three uses one of the indexes the broken target lost.
        {
            "name": "login_by_email",
            "sql": "SELECT id, name FROM customers WHERE email = :email",
            "sample": {"sql": "SELECT email FROM customers WHERE id % 7919 = 0 ORDER BY id", "size": 4},
        },
        {
            "name": "by_name",
            "sql": "SELECT id FROM customers WHERE name = :name",
            "params": {"name": "name 4242"},
        },
        {
            "name": "orders_of",
            "sql": "SELECT id, total FROM orders WHERE customer_id = :customer ORDER BY id",
            "params": {"customer": 4242},
        },
        # These use only what both targets have (the primary key) or scan on both sides.
        {"name": "by_id", "sql": "SELECT * FROM customers WHERE id = :id", "params": {"id": 77}},
        {"name": "cities", "sql": "SELECT city, count(*) AS n FROM customers GROUP BY city"},
    ],
}


def _database(indexes: bool) -> Iterator[PgDatabase]:
    for db in make_pg_database():
        db.execute(*TABLES, *(INDEXES if indexes else ()), "ANALYZE")
        yield db


@pytest.fixture(scope="module")
def source() -> Iterator[PgDatabase]:
    yield from _database(indexes=True)


@pytest.fixture(scope="module")
def lost_indexes() -> Iterator[PgDatabase]:
    yield from _database(indexes=False)


@pytest.fixture(scope="module")
def correct() -> Iterator[PgDatabase]:
    yield from _database(indexes=True)


def _run(source_url: str, target_url: str, **overrides: object):  # type: ignore[no-untyped-def]
    settings = PerformanceSettings.model_validate({**WORKLOAD, **overrides})
    with connect(source_url) as src, connect(target_url) as tgt:
        return run_workload(settings, source=src, target=tgt)


def test_the_three_queries_that_used_the_lost_indexes_are_reported_with_proven_advice(
    source: PgDatabase, lost_indexes: PgDatabase
) -> None:
    result = _run(source.url, lost_indexes.url)
    regressions = {
        (f.query, f.table, f.column) for f in result.findings if f.category is Category.PLAN_REGRESSION
    }
    assert regressions == {
        ("login_by_email", "customers", "email"),
        ("by_name", "customers", "name"),
        ("orders_of", "orders", "customer_id"),
    }
    assert all(
        f.severity is Severity.ERROR and f.source_value != "scan" and f.target_value == "scan"
        for f in result.findings
        if f.category is Category.PLAN_REGRESSION
    )
    advice = {f.query: f for f in result.findings if f.category is Category.INDEX_ADVICE}
    assert set(advice) == {"login_by_email", "by_name", "orders_of"}
    for finding in advice.values():
        assert finding.rule == "proven", finding.message
        assert isinstance(finding.target_value, dict)
        assert finding.target_value["factor"] > 2
        assert "CREATE" in finding.message and "CONCURRENTLY" in finding.message
    # The lost unique constraint comes back as a unique index.
    assert (
        'CREATE UNIQUE INDEX CONCURRENTLY ON "public"."customers" ("email")'
        in advice["login_by_email"].message
    )
    assert {f.query for f in result.findings} == {"login_by_email", "by_name", "orders_of"}
    # No value drawn from the rows is in any message (the sampled e-mail addresses are real data).
    assert not any("@example.com" in f.message for f in result.findings)
    figures = {q.name: q for q in result.queries}
    assert figures["by_id"].source_plan is not None and figures["by_id"].target_plan is not None
    assert figures["login_by_email"].source is not None and figures["login_by_email"].source.runs == 12
    assert figures["by_id"].rows_fetched == (14, 14)  # one row per run: the first, a warm-up, 12 timed


def test_hypopg_leaves_nothing_behind(source: PgDatabase, lost_indexes: PgDatabase) -> None:
    _run(source.url, lost_indexes.url, workload=WORKLOAD["workload"][1:2])  # type: ignore[index]
    assert lost_indexes.query("SELECT extname FROM pg_extension WHERE extname = 'hypopg'") == []
    indexes = lost_indexes.query("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
    assert indexes == [("customers_pkey",), ("orders_pkey",)]


def test_without_hypopg_the_advice_is_unverified(source: PgDatabase, lost_indexes: PgDatabase) -> None:
    result = _run(source.url, lost_indexes.url, allow_hypopg=False, workload=WORKLOAD["workload"][1:2])  # type: ignore[index]
    advice = [f for f in result.findings if f.category is Category.INDEX_ADVICE]
    assert [f.rule for f in advice] == ["unverified"]
    assert "HypoPG is not available on the target" in advice[0].message


def test_a_correct_target_raises_nothing_run_after_run(source: PgDatabase, correct: PgDatabase) -> None:
    for _ in range(3):
        result = _run(source.url, correct.url)
        assert [f.message for f in result.findings] == []
    assert len(result.queries) == 5


def test_a_different_answer_is_a_result_mismatch(source: PgDatabase, correct: PgDatabase) -> None:
    correct.execute("UPDATE orders SET total = total + 1 WHERE customer_id = 4242")
    try:
        result = _run(source.url, correct.url, workload=WORKLOAD["workload"][2:3])  # type: ignore[index]
    finally:
        correct.execute("UPDATE orders SET total = total - 1 WHERE customer_id = 4242")
    mismatches = [f for f in result.findings if f.category is Category.RESULT_MISMATCH]
    assert [(f.query, f.severity) for f in mismatches] == [("orders_of", Severity.ERROR)]
    assert "different values" in mismatches[0].message


def test_the_counters_show_the_scans(source: PgDatabase, lost_indexes: PgDatabase) -> None:
    result = _run(source.url, lost_indexes.url, workload=WORKLOAD["workload"][1:2], allow_hypopg=False)  # type: ignore[index]
    target = result.counters["target"]["customers"]
    source_counts = result.counters["source"]["customers"]
    assert target["seq_scan"] >= 12 and source_counts["idx_scan"] >= 12
    assert target["index_bytes"] < source_counts["index_bytes"]


def test_unqualified_names_resolve_in_the_urls_schema(pg_db: PgDatabase) -> None:
    # A migration into a schema of its own: the application's queries name tables unqualified.
    pg_db.execute(
        "CREATE SCHEMA app",
        "CREATE TABLE app.things (id integer PRIMARY KEY, label text)",
        "INSERT INTO app.things SELECT i, 'label ' || i FROM generate_series(1, 100) i",
    )
    url = f"{pg_db.url}?schema=app"
    settings = {"repetitions": 3, "workload": [{"name": "t", "sql": "SELECT label FROM things WHERE id = 5"}]}
    with connect(url) as source, connect(url) as target:
        result = run_workload(PerformanceSettings.model_validate(settings), source=source, target=target)
        assert source.execute("SHOW search_path") == [('"$user", public',)]  # the session's own again
    assert [q.name for q in result.queries] == ["t"] and result.findings == ()


def test_a_partial_or_expression_index_is_advised_by_hand_never_as_a_stricter_index() -> None:
    # Rebuilt from its columns alone, the partial unique index would refuse the deleted duplicates.
    table = (
        "CREATE TABLE acct (id integer PRIMARY KEY, email text NOT NULL, deleted boolean NOT NULL)",
        "INSERT INTO acct SELECT i, 'user' || (i % 15000) || '@example.com', i > 15000 "
        "FROM generate_series(1, 20000) i",
    )
    indexes = (
        "CREATE UNIQUE INDEX acct_live_email ON acct (email) WHERE NOT deleted",
        "CREATE INDEX acct_lower_email ON acct (lower(email))",
    )
    sources, targets = make_pg_database(), make_pg_database()
    src, tgt = next(sources), next(targets)
    try:
        src.execute(*table, *indexes, "ANALYZE")
        tgt.execute(*table, "ANALYZE")
        workload = [
            {
                "name": "live",
                "sql": "SELECT id FROM acct WHERE email = :e AND NOT deleted",
                "params": {"e": "user77@example.com"},
            },
            {
                "name": "lower",
                "sql": "SELECT id FROM acct WHERE lower(email) = :e",
                "params": {"e": "user77@example.com"},
            },
        ]
        result = _run(src.url, tgt.url, repetitions=3, workload=workload)
    finally:
        for created in (sources, targets):
            created.close()
    advice = {f.query: f for f in result.findings if f.category is Category.INDEX_ADVICE}
    assert set(advice) == {"live", "lower"}
    assert {f.rule for f in advice.values()} == {"not_applicable"}
    assert "ON public.acct USING btree (email) WHERE (NOT deleted)" in advice["live"].message
    assert "UNIQUE INDEX acct_live_email" in advice["live"].message
    assert "USING btree (lower(email))" in advice["lower"].message
    assert not any("CONCURRENTLY" in f.message for f in advice.values())
    assert index_plan(result, target="t").statements == ()


def test_hypopg_is_not_dropped_under_a_concurrent_run(pg_db: PgDatabase) -> None:
    from pm_pipeline.core.perf.advice import hypopg

    pg_db.execute("CREATE TABLE t (x integer)")
    with connect(pg_db.url) as first, connect(pg_db.url) as second:
        created = hypopg(first, allowed=True)
        assert created.__enter__() is not None  # the first run creates it
        using = hypopg(second, allowed=True)
        schema = using.__enter__()
        assert schema is not None
        created.__exit__(None, None, None)  # the first run ends while the second still uses it
        hypothetical = second.execute(
            f"SELECT indexname FROM {schema}.hypopg_create_index('CREATE INDEX ON t (x)')"
        )
        assert hypothetical
        second.execute(f"SELECT {schema}.hypopg_reset()")
        using.__exit__(None, None, None)
    # Found installed by the second run, it is left installed; a run alone drops what it created.
    assert pg_db.query("SELECT extname FROM pg_extension WHERE extname = 'hypopg'") == [("hypopg",)]


def test_a_target_partial_index_on_the_columns_does_not_hide_the_lost_index(source: PgDatabase) -> None:
    sources = make_pg_database()
    target = next(sources)
    try:
        target.execute(
            *TABLES, "CREATE INDEX customers_email_few ON customers (email) WHERE id < 10", "ANALYZE"
        )
        result = _run(source.url, target.url, allow_hypopg=False, workload=WORKLOAD["workload"][:1])  # type: ignore[index]
    finally:
        sources.close()
    found = {(f.category, f.severity) for f in result.findings if f.query == "login_by_email"}
    assert (Category.PLAN_REGRESSION, Severity.ERROR) in found
    assert (Category.INDEX_ADVICE, Severity.INFO) in found
