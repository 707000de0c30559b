"""compare_schemas over hand-built schemas: every finding category, equivalences, renames and the spec mapping."""

from __future__ import annotations

import dataclasses

import pytest

from pm_pipeline.core.config.spec import TableMapping
from pm_pipeline.core.connectors.schema import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Sequence,
    TableSchema,
    UniqueConstraint,
)
from pm_pipeline.core.connectors.schema import TypeFamily as F
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import Category, Severity
from pm_pipeline.core.schema import ColumnProfile, compare_schemas, name_similarity, profiled_columns
from pm_pipeline.core.schema.defaults import normalise_default

MARIADB = TableSchema(
    name="orders",
    columns=(
        Column("id", "int(11)", F.INTEGER, nullable=False, precision=32, identity=True),
        Column("customer_id", "int(11)", F.INTEGER, nullable=False, precision=32),
        Column("email", "varchar(100)", F.TEXT, nullable=False, length=100),
        Column("amount", "decimal(12,2)", F.DECIMAL, nullable=False, default="0.00", precision=12, scale=2),
        Column("paid", "tinyint(1)", F.INTEGER, nullable=False, default="0", precision=8),
        Column("state", "enum('new','paid')", F.ENUM, default="'new'", enum_values=("new", "paid")),
        Column("created_at", "datetime(6)", F.TIMESTAMP, nullable=False, default="current_timestamp(6)", precision=6),
        Column("touched", "timestamp", F.TIMESTAMPTZ, default="current_timestamp()", precision=0),
    ),
    primary_key=("id",),
    unique_constraints=(UniqueConstraint("uq_email", ("email",)),),
    foreign_keys=(ForeignKey("fk_customer", ("customer_id",), "customers", ("id",)),),
    check_constraints=(CheckConstraint("amount_positive", "`amount` >= 0"),),
    indexes=(Index("uq_email", ("email",), unique=True), Index("fk_customer", ("customer_id",))),
    sequences=(Sequence("AUTO_INCREMENT", "id", 101),),
)  # fmt: skip

POSTGRES = TableSchema(
    name="orders",
    columns=(
        Column("id", "integer", F.INTEGER, nullable=False, default="nextval('orders_id_seq'::regclass)", precision=32, identity=True),
        Column("customer_id", "integer", F.INTEGER, nullable=False, precision=32),
        Column("email", "text", F.TEXT, nullable=False),
        Column("amount", "numeric(12,2)", F.DECIMAL, nullable=False, default="0.00", precision=12, scale=2),
        Column("paid", "boolean", F.BOOLEAN, nullable=False, default="false"),
        Column("state", "character varying(10)", F.TEXT, default="'new'::character varying", length=10),
        Column("created_at", "timestamp(6) without time zone", F.TIMESTAMP, nullable=False, default="now()", precision=6),
        Column("touched", "timestamp with time zone", F.TIMESTAMPTZ, default="CURRENT_TIMESTAMP", precision=6),
    ),
    primary_key=("id",),
    unique_constraints=(UniqueConstraint("orders_email_key", ("email",)),),
    foreign_keys=(ForeignKey("orders_customer_id_fkey", ("customer_id",), "public.customers", ("id",)),),
    check_constraints=(CheckConstraint("orders_amount_check", "CHECK ((amount >= (0)::numeric))"),),
    indexes=(Index("orders_email_key", ("email",), unique=True), Index("ix_cust", ("customer_id",))),
    sequences=(Sequence("orders_id_seq", "id", 101),),
)  # fmt: skip


def compare(source: TableSchema = MARIADB, target: TableSchema = POSTGRES, **kw: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {"source_engine": "mysql", "target_engine": "postgresql", **kw}
    return compare_schemas(table="orders", source=source, target=target, **options)  # type: ignore[arg-type]


def with_column(schema: TableSchema, name: str, **changes: object) -> TableSchema:
    columns = tuple(dataclasses.replace(c, **changes) if c.name == name else c for c in schema.columns)  # type: ignore[arg-type]
    return dataclasses.replace(schema, columns=columns)


def only(result, category: Category):  # type: ignore[no-untyped-def]
    found = [f for f in result.findings if f.category is category]
    assert len(found) == 1, result.findings
    return found[0]


def test_a_correct_mariadb_to_postgresql_migration_has_no_findings() -> None:
    result = compare(target_key_max={"id": 100})
    assert result.findings == ()
    assert result.passed and result.column_map == {name: name for name in MARIADB.column_names}


def test_a_dropped_column_is_missing_and_an_added_one_extra() -> None:
    target = dataclasses.replace(
        POSTGRES,
        columns=(*[c for c in POSTGRES.columns if c.name != "touched"], Column("note", "text", F.TEXT)),
    )
    result = compare(target=target)
    missing = only(result, Category.COLUMN_MISSING)
    assert (missing.column, missing.severity, missing.check) == ("touched", Severity.ERROR, "schema")
    extra = only(result, Category.COLUMN_EXTRA)
    assert extra.severity is Severity.INFO and "note" in str(extra.target_value)
    assert "touched" not in result.column_map


def test_extra_not_null_column_without_default_is_a_warning() -> None:
    target = dataclasses.replace(
        POSTGRES, columns=(*POSTGRES.columns, Column("tenant", "integer", F.INTEGER, nullable=False))
    )
    assert only(compare(target=target), Category.COLUMN_EXTRA).severity is Severity.WARNING


def test_narrowed_column_names_source_and_target_declarations() -> None:
    target = with_column(POSTGRES, "email", data_type="varchar(50)", length=50)
    finding = only(compare(target=target), Category.TYPE_NARROWED)
    assert (finding.column, finding.source_value, finding.target_value) == (
        "email",
        "varchar(100)",
        "varchar(50)",
    )
    assert finding.rule == "text_length" and finding.severity is Severity.ERROR


def test_incompatible_and_changed_types() -> None:
    target = with_column(POSTGRES, "email", data_type="integer", family=F.INTEGER, precision=32)
    assert only(compare(target=target), Category.TYPE_INCOMPATIBLE).severity is Severity.ERROR
    target = with_column(POSTGRES, "amount", data_type="numeric", precision=None, scale=None)
    assert not compare(target=target).findings  # unbounded numeric holds any decimal
    target = with_column(POSTGRES, "customer_id", data_type="text", family=F.TEXT, precision=None)
    assert only(compare(target=target), Category.TYPE_CHANGED).severity is Severity.INFO


def test_not_null_dropped_is_an_error_and_gained_is_info() -> None:
    lost = only(compare(target=with_column(POSTGRES, "email", nullable=True)), Category.NULLABILITY_CHANGED)
    assert lost.severity is Severity.ERROR and lost.source_value == "NOT NULL"
    gained = only(
        compare(target=with_column(POSTGRES, "state", nullable=False)), Category.NULLABILITY_CHANGED
    )
    assert gained.severity is Severity.INFO


def test_default_dropped_or_changed() -> None:
    dropped = only(compare(target=with_column(POSTGRES, "amount", default=None)), Category.DEFAULT_MISSING)
    assert dropped.column == "amount" and dropped.rule == "default_missing"
    changed = only(compare(target=with_column(POSTGRES, "paid", default="true")), Category.DEFAULT_MISSING)
    assert changed.rule == "default_changed"


@pytest.mark.parametrize(
    ("family", "source", "target"),
    [
        (F.TIMESTAMP, "CURRENT_TIMESTAMP", "now()"),  # MySQL 8 spelling vs PostgreSQL
        (F.TIMESTAMP, "current_timestamp()", "CURRENT_TIMESTAMP"),  # MariaDB 10.x spelling
        (F.TIMESTAMP, "current_timestamp(6)", "now()"),  # datetime(6) default
        (F.INTEGER, "0", "'0'::integer"),  # pg_dump casts literals
        (F.TEXT, "'x'", "'x'::character varying"),  # varchar default as PostgreSQL reports it
        (F.DECIMAL, "0.00", "0"),  # numeric literal written differently
        (F.BOOLEAN, "1", "true"),  # tinyint(1) flag -> boolean
        (F.TEXT, "'it''s'", "('it''s'::text)"),  # quotes and parentheses around a literal
        (F.UUID, "uuid()", "gen_random_uuid()"),  # generated UUID keys
    ],
)
def test_defaults_differing_only_in_spelling_are_equal(family: F, source: str, target: str) -> None:
    assert normalise_default(source, family) == normalise_default(target, family)


def test_defaults_that_really_differ_stay_different() -> None:
    # 'N' vs 'Y' flags, and a literal vs a clock: both real migration mistakes.
    assert normalise_default("'N'", F.TEXT) != normalise_default("'Y'::bpchar", F.TEXT)
    assert normalise_default("'2020-01-01'", F.TIMESTAMP) != normalise_default("now()", F.TIMESTAMP)
    assert normalise_default("NULL::character varying", F.TEXT) is None


def test_primary_key_missing() -> None:
    finding = only(
        compare(target=dataclasses.replace(POSTGRES, primary_key=())), Category.PRIMARY_KEY_MISSING
    )
    assert finding.severity is Severity.ERROR and finding.column == "id"


def test_unique_constraint_missing_but_a_unique_index_satisfies_it() -> None:
    without = dataclasses.replace(
        POSTGRES, unique_constraints=(), indexes=(Index("ix_cust", ("customer_id",)),)
    )
    finding = only(compare(target=without), Category.CONSTRAINT_MISSING)
    assert finding.rule == "unique" and finding.column == "email"
    index_only = dataclasses.replace(POSTGRES, unique_constraints=())
    assert compare(target=index_only).findings == ()


def test_check_constraint_missing() -> None:
    finding = only(
        compare(target=dataclasses.replace(POSTGRES, check_constraints=())), Category.CONSTRAINT_MISSING
    )
    assert finding.rule == "check" and finding.column == "amount"


def test_index_missing_whatever_its_name() -> None:
    renamed = dataclasses.replace(
        POSTGRES, indexes=(POSTGRES.indexes[0], Index("whatever", ("customer_id", "id")))
    )
    assert compare(target=renamed).findings == ()  # a wider index starting with the column serves it
    finding = only(
        compare(target=dataclasses.replace(POSTGRES, indexes=POSTGRES.indexes[:1])), Category.INDEX_MISSING
    )
    assert finding.severity is Severity.WARNING and finding.column == "customer_id"


def test_foreign_key_missing_is_matched_by_columns_and_table_not_name() -> None:
    finding = only(
        compare(target=dataclasses.replace(POSTGRES, foreign_keys=())), Category.FOREIGN_KEY_MISSING
    )
    assert finding.column == "customer_id" and finding.severity is Severity.ERROR
    elsewhere = (ForeignKey("x", ("customer_id",), "clients", ("id",)),)
    assert only(
        compare(target=dataclasses.replace(POSTGRES, foreign_keys=elsewhere)), Category.FOREIGN_KEY_MISSING
    )
    assert (
        compare(
            target=dataclasses.replace(POSTGRES, foreign_keys=elsewhere),
            table_renames={"customers": "clients"},
        ).findings
        == ()
    )


@pytest.mark.parametrize(
    ("next_value", "key_max", "behind"),
    [
        (1, 100, True),  # rows copied with explicit ids, setval never run
        (100, 100, True),  # off by one: next value equals the max key
        (101, 100, False),  # correctly advanced
        (50, None, True),  # no key max given, but below the source's next value 101
    ],
)
def test_sequence_behind(next_value: int, key_max: int | None, behind: bool) -> None:
    target = dataclasses.replace(POSTGRES, sequences=(Sequence("orders_id_seq", "id", next_value),))
    result = compare(target=target, target_key_max=None if key_max is None else {"id": key_max})
    found = [f for f in result.findings if f.category is Category.SEQUENCE_BEHIND]
    assert bool(found) is behind
    if behind:
        assert found[0].severity is Severity.ERROR and found[0].column == "id"


def test_identity_lost_in_target_is_reported() -> None:
    target = dataclasses.replace(with_column(POSTGRES, "id", identity=False, default=None), sequences=())
    assert only(compare(target=target), Category.SEQUENCE_BEHIND).target_value == "none"


def test_unsigned_int_to_int_is_narrowing_but_to_bigint_fine() -> None:
    source = with_column(MARIADB, "customer_id", data_type="int(10) unsigned", unsigned=True)
    assert only(compare(source=source), Category.TYPE_NARROWED).column == "customer_id"
    target = with_column(POSTGRES, "customer_id", data_type="bigint", precision=64)
    assert compare(source=source, target=target).findings == ()


def _renamed_target() -> TableSchema:
    columns = tuple(
        dataclasses.replace(c, name="email_address") if c.name == "email" else c for c in POSTGRES.columns
    )
    return dataclasses.replace(
        POSTGRES,
        columns=columns,
        unique_constraints=(UniqueConstraint("u", ("email_address",)),),
        indexes=POSTGRES.indexes[1:],
    )


EMAILS = ColumnProfile(
    F.TEXT,
    rows=4,
    distinct=4,
    min_length=9,
    max_length=11,
    top_values=("a@x.io", "b@x.io", "c@x.io", "dd@x.io"),
)


def test_renamed_column_with_identical_values_is_suggested_with_high_confidence() -> None:
    target = _renamed_target()
    result = compare(
        target=target, source_profiles={"email": EMAILS}, target_profiles={"email_address": EMAILS}
    )
    rename = only(result, Category.COLUMN_RENAMED)
    assert (rename.source_value, rename.target_value, rename.severity) == (
        "email",
        "email_address",
        Severity.WARNING,
    )
    suggestion = result.suggestions[0]
    assert suggestion.profile_similarity == 1.0 and suggestion.confidence >= 0.85
    assert "email -> email_address" in rename.message
    # Until accepted, the column is not compared: still missing, but no separate extra finding.
    assert only(result, Category.COLUMN_MISSING).column == "email"
    assert not [f for f in result.findings if f.category is Category.COLUMN_EXTRA]


def test_an_unrelated_column_is_not_suggested() -> None:
    target = dataclasses.replace(
        POSTGRES,
        columns=(*[c for c in POSTGRES.columns if c.name != "email"], Column("comment", "text", F.TEXT)),
    )
    notes = ColumnProfile(
        F.TEXT, rows=4, nulls=3, distinct=1, min_length=120, max_length=120, top_values=("long text",)
    )
    result = compare(target=target, source_profiles={"email": EMAILS}, target_profiles={"comment": notes})
    assert result.suggestions == ()
    assert {f.category for f in result.findings} >= {Category.COLUMN_MISSING, Category.COLUMN_EXTRA}


def test_a_similar_name_with_different_data_is_not_suggested() -> None:
    target = _renamed_target()
    other = ColumnProfile(
        F.TEXT, rows=4, nulls=2, distinct=2, min_length=30, max_length=60, top_values=("zz", "yy")
    )
    result = compare(
        target=target, source_profiles={"email": EMAILS}, target_profiles={"email_address": other}
    )
    assert result.suggestions == ()


def test_accepted_rename_in_the_spec_leaves_no_column_findings() -> None:
    mapping = TableMapping(source="orders", renames={"email": "email_address"})
    result = compare(target=_renamed_target(), mapping=mapping)
    assert result.findings == ()
    assert result.column_map["email"] == "email_address"


def test_ignored_columns_are_left_out_and_unknown_spec_columns_rejected() -> None:
    target = dataclasses.replace(POSTGRES, columns=tuple(c for c in POSTGRES.columns if c.name != "touched"))
    assert compare(target=target, mapping=TableMapping(source="orders", ignore=["touched"])).findings == ()
    with pytest.raises(BadInputError, match="nope"):
        compare(mapping=TableMapping(source="orders", renames={"nope": "x"}))
    with pytest.raises(BadInputError, match="oracle"):
        compare(source_engine="oracle")


@pytest.mark.parametrize(
    ("a", "b", "related"),
    [
        ("email_address", "email", True),  # suffix dropped in the new schema
        ("cust_id", "customer_id", True),  # abbreviation spelled out
        ("createdAt", "created_at", True),  # camelCase -> snake_case
        ("created_at", "price", False),  # unrelated
    ],
)
def test_name_similarity(a: str, b: str, related: bool) -> None:
    assert (name_similarity(a, b) >= 0.6) is related


def _table(*columns: Column) -> TableSchema:
    return TableSchema(name="orders", columns=columns)


def test_only_columns_the_declarations_cannot_settle_are_profiled() -> None:
    source = _table(
        Column("id", "bigint", F.INTEGER, nullable=False, precision=64),
        Column("note", "varchar(64)", F.TEXT, length=64),
        Column("code", "text", F.TEXT),
        Column("kind", "varchar(10)", F.TEXT, length=10),
    )
    target = _table(
        Column("id", "bigint", F.INTEGER, nullable=False, precision=64),
        Column("note", "varchar(64)", F.TEXT, length=64),  # same width: fits by declaration
        Column("code", "varchar(8)", F.TEXT, length=8),  # unbounded into 8: only the data can tell
        Column("kind", "text", F.TEXT),  # wider
    )
    wanted = profiled_columns(
        "orders", source, target, source_engine="postgresql", target_engine="postgresql"
    )
    assert wanted == ({"code"}, set())
    # The profile is what settles the narrower column: a value longer than 8 is a loss.
    long_code = ColumnProfile(family=F.TEXT, rows=10, min_length=3, max_length=12)
    findings = compare_schemas(
        table="orders", source=source, target=target, source_engine="postgresql",
        target_engine="postgresql", source_profiles={"code": long_code},
    ).findings  # fmt: skip
    assert [(f.category, f.column) for f in findings] == [(Category.TYPE_NARROWED, "code")]


def test_rename_candidates_are_profiled_on_both_sides_only_together() -> None:
    source = _table(Column("id", "int", F.INTEGER, precision=32), Column("email", "text", F.TEXT))
    renamed = _table(Column("id", "int", F.INTEGER, precision=32), Column("mail", "text", F.TEXT))
    dropped = _table(Column("id", "int", F.INTEGER, precision=32))
    assert profiled_columns("orders", source, renamed, source_engine="mysql", target_engine="mysql") == (
        {"email"},
        {"mail"},
    )
    assert profiled_columns("orders", source, dropped, source_engine="mysql", target_engine="mysql") == (
        set(),
        set(),
    )
    spec = TableMapping(source="orders", renames={"email": "mail"})
    assert profiled_columns(
        "orders", source, renamed, source_engine="mysql", target_engine="mysql", mapping=spec
    ) == (set(), set())


def test_a_loss_the_declarations_decide_needs_no_profile() -> None:
    source = _table(
        Column("id", "int", F.INTEGER, precision=32), Column("code", "varchar(40)", F.TEXT, length=40)
    )
    target = _table(
        Column("id", "int", F.INTEGER, precision=32), Column("code", "varchar(8)", F.TEXT, length=8)
    )
    assert profiled_columns("orders", source, target, source_engine="mysql", target_engine="mysql") == (
        set(),
        set(),
    )
    findings = compare_schemas(
        table="orders", source=source, target=target, source_engine="mysql", target_engine="mysql"
    ).findings
    assert [(f.category, f.column) for f in findings] == [(Category.TYPE_NARROWED, "code")]
