"""The performance monitor's pure parts: the spec section, parameter binding, plan models from each
engine's EXPLAIN, answer fingerprints and the latency statistics."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import numpy as np
import pytest

from pm_pipeline.core.config import spec_from_mapping
from pm_pipeline.core.config.performance import PerformanceSettings, named_parameters
from pm_pipeline.core.errors import SpecError
from pm_pipeline.core.perf.judge import is_regression
from pm_pipeline.core.perf.params import bind
from pm_pipeline.core.perf.plans import condition_columns, parse_mysql, parse_postgres, parse_sqlite
from pm_pipeline.core.perf.results import answer, canonical, ordered
from pm_pipeline.core.perf.stats import compare, latency, median_is_stable


def _spec(performance: dict[str, Any]) -> Any:
    return spec_from_mapping(
        {
            "source": {"url": "sqlite:///a.db"},
            "target": {"url": "sqlite:///b.db"},
            "performance": performance,
        },
        file="m.yaml",
    )


def test_a_spec_with_only_a_workload_is_valid_and_typed() -> None:
    spec = _spec({"workload": [{"name": "q", "sql": "SELECT 1 FROM t WHERE a = :a", "params": {"a": 1}}]})
    assert spec.performance.repetitions == "auto"
    assert spec.performance.timeout == dt.timedelta(seconds=30)
    assert spec.performance.allow_hypopg is False


@pytest.mark.parametrize(
    ("performance", "problem"),
    [
        ({"workload": [{"name": "q", "sql": "SELECT :a"}]}, "parameter(s) :a have no value"),
        ({"workload": [{"name": "q", "sql": "SELECT 1", "speed": 1}]}, "unknown key"),
        ({"workload": [{"name": "q", "source_sql": "SELECT 1"}]}, "both 'source_sql' and 'target_sql'"),
        ({"workload": [{"name": "q", "sql": "SELECT 1"}, {"name": "q", "sql": "SELECT 2"}]}, "given twice"),
        ({"workload": [{"name": "q", "sql": "SELECT 1"}], "repetitions": 1}, "from 3 to"),
        ({"workload": [{"name": "q", "sql": "SELECT 1"}], "statement_timeout": "soon"}, "duration"),
        ({"workload": [{"name": "q", "sql": "SELECT 1"}], "regression_ratio": 0.5}, "greater than 1"),
        ({"capture": {"top": 0}}, "greater than or equal to 1"),
        ({"workload": []}, "no queries"),
    ],
)
def test_a_bad_performance_section_names_its_place(performance: dict[str, Any], problem: str) -> None:
    with pytest.raises(SpecError, match="performance") as raised:
        _spec(performance)
    assert problem in str(raised.value)
    assert "m.yaml" in str(raised.value)


def test_parameters_skip_casts_quotes_and_comments() -> None:
    sql = "SELECT a::int, ':no' FROM t -- :none\nWHERE b = :b AND c = :c /* :nor */ AND d = :b"
    assert named_parameters(sql) == ["b", "c", "b"]


def test_binding_uses_the_engine_placeholders_and_keeps_percent_signs() -> None:
    bound = bind("SELECT 1 FROM t WHERE a = :a AND b LIKE 'x%' AND c = :a", {"a": 5}, placeholder="%s")
    assert bound.sql == "SELECT 1 FROM t WHERE a = %s AND b LIKE 'x%%' AND c = %s"
    assert bound.params == (5, 5)
    assert bind("SELECT 'x%' FROM t", {}, placeholder="%s").sql == "SELECT 'x%' FROM t"  # no parameters
    assert bind("SELECT :a", {"a": "v"}, placeholder="?").sql == "SELECT ?"


POSTGRES_PLAN = [
    {
        "Plan": {
            "Node Type": "Sort",
            "Total Cost": 1800.5,
            "Plan Rows": 3,
            "Sort Key": ["orders.id"],
            "Plans": [
                {
                    "Node Type": "Bitmap Heap Scan",
                    "Relation Name": "orders",
                    "Plan Rows": 3,
                    "Recheck Cond": "(customer_id = 42)",
                    "Plans": [
                        {
                            "Node Type": "Bitmap Index Scan",
                            "Index Name": "orders_customer_idx",
                            "Index Cond": "(customer_id = 42)",
                        }
                    ],
                }
            ],
        }
    }
]


def test_a_postgresql_plan_becomes_one_access_per_table() -> None:
    plan = parse_postgres(POSTGRES_PLAN)
    assert plan.cost == 1800.5
    [access] = plan.tables
    assert (access.table, access.path, access.index) == ("orders", "index", "orders_customer_idx")
    assert access.columns == ("customer_id", "id")  # the condition, then the sort key


def test_a_mariadb_full_index_read_is_a_scan() -> None:
    document = {
        "query_block": {
            "nested_loop": [
                {
                    "table": {
                        "table_name": "c",
                        "access_type": "ref",
                        "key": "c_email",
                        "used_key_parts": ["email"],
                        "rows": 1,
                    }
                },
                {"table": {"table_name": "o", "access_type": "index", "key": "PRIMARY", "rows": 900}},
                {
                    "table": {
                        "table_name": "p",
                        "access_type": "ALL",
                        "rows": 50,
                        "attached_condition": "p.`kind` = 'x'",
                    }
                },
            ]
        }
    }
    plan = parse_mysql(document)
    assert [(t.table, t.path, t.index, t.columns) for t in plan.tables] == [
        ("c", "index", "c_email", ("email",)),
        ("o", "scan", None, ()),
        ("p", "scan", None, ("kind",)),
    ]


def test_sqlite_query_plan_details() -> None:
    plan = parse_sqlite(["SEARCH customers USING INDEX customers_email (email=?)", "SCAN orders"])
    assert [(t.table, t.path, t.index, t.columns) for t in plan.tables] == [
        ("customers", "index", "customers_email", ("email",)),
        ("orders", "scan", None, ()),
    ]


def test_condition_columns_never_keep_a_value() -> None:
    assert condition_columns("((email)::text = 'a = b'::text) AND (city <> 'x')") == ("email", "city")


def test_answers_compare_across_engine_types() -> None:
    # PostgreSQL hands booleans, numeric and timestamptz; MariaDB 1/0, DECIMAL with another scale, naive UTC.
    postgres = [(True, decimal.Decimal("2.50"), dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC), 7)]
    mariadb = [(1, decimal.Decimal("2.5000"), dt.datetime(2024, 1, 1, 12), 7.0)]
    assert answer(postgres) == answer(mariadb)
    assert canonical(decimal.Decimal("0.33333333333333333333")) == canonical(1 / 3)
    first, second = answer([(1,), (2,)]), answer([(2,), (1,)])
    assert first.differs(second, in_order=False) is None
    assert "different order" in (first.differs(second, in_order=True) or "")
    assert "different values" in (answer([(1,)]).differs(answer([(3,)]), in_order=False) or "")


def test_order_by_counts_only_in_the_outer_query() -> None:
    assert ordered("SELECT a FROM t ORDER BY a")
    assert not ordered("SELECT a FROM (SELECT a FROM t ORDER BY a LIMIT 5) s")
    assert not ordered("SELECT 'ORDER BY' FROM t")


def test_a_clear_slowdown_is_a_regression_and_noise_is_not() -> None:
    rng = np.random.default_rng(1)
    source = list(0.001 + rng.exponential(0.0002, 30))
    settings = PerformanceSettings.model_validate({"workload": [{"name": "q", "sql": "SELECT 1"}]})
    slow = [t * 10 for t in rng.permutation(source)]
    assert is_regression(settings, compare(source, slow))
    # The same distribution with a few outliers (a busy neighbour): never a regression.
    noisy = list(0.001 + rng.exponential(0.0002, 30))
    noisy[:4] = [0.05, 0.06, 0.04, 0.05]
    assert not is_regression(settings, compare(source, noisy))
    figures = latency(source)
    assert figures.p50_ci.low <= figures.p50 <= figures.p50_ci.high
    assert figures.runs == 30 and figures.p95 >= figures.p50


def test_auto_repetitions_stop_when_the_median_is_tight() -> None:
    assert not median_is_stable([0.001] * 5)  # too few runs to tell
    assert median_is_stable([0.001 + 0.000001 * (i % 3) for i in range(20)])
    assert not median_is_stable([0.001, 0.01] * 10)


def test_a_database_message_is_withheld_only_when_a_column_is_hidden_from_a_reader() -> None:
    import psycopg.errors
    import pymysql.err

    from pm_pipeline.core.check_errors import Unit, guarded
    from pm_pipeline.core.perf.refusals import values_may_be_hidden, withheld, withholding

    def spec(clearance: str, audiences: list[str]) -> Any:
        return spec_from_mapping(
            {
                "source": {"url": "sqlite:///a.db"},
                "target": {"url": "sqlite:///b.db"},
                "tables": [{"source": "t", "columns": {"ssn": {"classification": "confidential"}}}],
                "reports": {"clearance": clearance, "audiences": audiences},
            },
            file="m.yaml",
        )

    assert values_may_be_hidden(spec("internal", []))
    assert not values_may_be_hidden(spec("confidential", []))
    assert values_may_be_hidden(spec("confidential", ["public"]))  # the lowest audience reads it too
    assert not values_may_be_hidden(_spec({"workload": [{"name": "q", "sql": "SELECT 1"}]}))
    quoting = psycopg.errors.InvalidTextRepresentation('invalid input syntax for type bigint: "123-45-0001"')
    assert withheld(quoting).startswith("SQLSTATE 22P02 (InvalidTextRepresentation);")
    mysql = pymysql.err.DataError(1292, "Truncated incorrect DOUBLE value: '123-45-0001'")
    assert withheld(mysql).startswith("error 1292 (DataError);")

    def refused() -> None:
        raise quoting

    class Answering:
        url = type("Url", (), {"password": None})()

        def answers(self) -> bool:
            return True

    for withhold, expected in ((True, "SQLSTATE 22P02"), (False, "123-45-0001")):
        _, error = guarded(
            Unit("performance", "query q", "t"),
            withholding(refused, withhold=withhold),
            connectors=[Answering()],  # type: ignore[list-item]
        )
        assert error is not None and expected in error.message
        assert withhold is ("123-45-0001" not in error.message)
