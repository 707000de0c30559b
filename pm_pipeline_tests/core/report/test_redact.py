"""Redaction: values, canonical values, keys and quoting messages of columns above clearance are masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from pm_pipeline.core.config import load_spec
from pm_pipeline.core.config.spec import Classification
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.core.report import FIXED_MASK, REDACTION_KEY_ENV, RedactionMode, Redactor, pseudonymiser_for

EMAIL = Finding(
    table="customers",
    category=Category.VALUE_MISMATCH,
    severity=Severity.ERROR,
    column="email",
    key={"id": 3},
    source_value="bob@example.com",
    target_value="bob@example.org",
    source_canonical="bob@example.com",
    target_canonical="bob@example.org",
    message="bob@example.com became bob@example.org",
    classification=Classification.RESTRICTED,
)


def test_fixed_mask_hides_every_value_of_a_column_above_clearance() -> None:
    redacted = Redactor(clearance=Classification.INTERNAL).redact(EMAIL)
    assert (redacted.source_value, redacted.target_value) == (FIXED_MASK, FIXED_MASK)
    assert (redacted.source_canonical, redacted.target_canonical) == (FIXED_MASK, FIXED_MASK)
    assert "bob@" not in redacted.message
    assert redacted.key == {"id": 3}  # the key column is not classified


def test_a_reader_at_or_above_the_classification_sees_the_values() -> None:
    assert Redactor(clearance=Classification.RESTRICTED).redact(EMAIL) == EMAIL


def test_key_values_of_a_classified_key_column_are_masked() -> None:
    # A natural key such as an IBAN or a national id is often the sensitive value itself.
    finding = Finding(
        table="accounts",
        category=Category.MISSING_ROW,
        severity=Severity.ERROR,
        key={"iban": "DE89370400440532013000", "branch": 7},
        message="row branch=7 is missing",
    )
    redactor = Redactor(
        clearance=Classification.PUBLIC,
        column_classes={"accounts": {"iban": Classification.INTERNAL}},
    )
    redacted = redactor.redact(finding)
    assert redacted.key == {"iban": FIXED_MASK, "branch": 7}
    assert redacted.message == "row branch=7 is missing"  # it quotes nothing hidden


def test_nulls_stay_null_so_null_handling_differences_remain_visible() -> None:
    finding = Finding(
        table="t",
        category=Category.VALUE_MISMATCH,
        severity=Severity.ERROR,
        column="ssn",
        source_value=None,
        target_value="",
        classification=Classification.RESTRICTED,
    )
    redacted = Redactor(clearance=Classification.PUBLIC).redact(finding)
    assert redacted.source_value is None
    assert redacted.target_value == FIXED_MASK


def test_hmac_keeps_equal_values_equal_and_different_values_apart() -> None:
    redactor = Redactor(clearance=Classification.INTERNAL, mode=RedactionMode.HMAC, key=b"k1")
    same = Finding(**{**EMAIL.__dict__, "target_value": "bob@example.com"})
    redacted = redactor.redact(same)
    assert isinstance(redacted.source_value, str) and redacted.source_value.startswith("hmac:")
    assert len(redacted.source_value) == len("hmac:") + 12
    assert redacted.source_value == redacted.target_value
    assert redactor.redact(EMAIL).target_value != redacted.target_value
    other_key = Redactor(clearance=Classification.INTERNAL, mode=RedactionMode.HMAC, key=b"k2")
    assert other_key.redact(same).source_value != redacted.source_value


def test_hmac_reads_its_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REDACTION_KEY_ENV, "k1")
    from_env = Redactor(clearance=Classification.INTERNAL, mode=RedactionMode.HMAC).redact(EMAIL)
    explicit = Redactor(clearance=Classification.INTERNAL, mode=RedactionMode.HMAC, key=b"k1").redact(EMAIL)
    assert from_env == explicit
    monkeypatch.delenv(REDACTION_KEY_ENV)
    with pytest.raises(BadInputError, match=REDACTION_KEY_ENV):
        Redactor(clearance=Classification.INTERNAL, mode=RedactionMode.HMAC)


def test_an_expectation_message_quoting_a_sample_item_is_redacted() -> None:
    # Expectation failures carry their samples as a list and quote them as Python text in the message.
    failed = Finding(
        table="customers",
        category=Category.EXPECTATION_FAILED,
        severity=Severity.ERROR,
        column="ssn",
        target_value=["123-45-6789", "987-65-4321"],
        message="expect_column_values_to_match_regex failed (spec): 2 unexpected value(s); "
        "sample ['123-45-6789', '987-65-4321']",
    )
    redactor = Redactor(
        clearance=Classification.INTERNAL, column_classes={"customers": {"ssn": Classification.RESTRICTED}}
    )
    redacted = redactor.redact(failed)
    assert redacted.target_value == FIXED_MASK
    assert "123-45" not in redacted.message and "987-65" not in redacted.message


def test_the_first_failing_row_of_an_expectation_hides_a_classified_key() -> None:
    # The expectation is on an unclassified column, but the row it names is keyed by an e-mail address.
    failed = Finding(
        table="customers",
        category=Category.EXPECTATION_FAILED,
        severity=Severity.ERROR,
        column="city",
        target_value=["Lyon"],
        message="be_in_set failed (generated from the source): 1 unexpected value(s); sample ['Lyon']; "
        "first at {'email': 'bob@example.com'}",
    )
    classes = {"customers": {"email": Classification.CONFIDENTIAL}}
    redacted = Redactor(clearance=Classification.INTERNAL, column_classes=classes).redact(failed)
    assert "bob@" not in redacted.message and "sample ['Lyon']" in redacted.message
    # At a clearance that may read the key, the message is untouched.
    assert Redactor(clearance=Classification.CONFIDENTIAL, column_classes=classes).redact(failed) == failed


def test_mask_key_masks_only_hidden_key_columns() -> None:
    classes = {"orders": {"iban": Classification.RESTRICTED}}
    redactor = Redactor(clearance=Classification.INTERNAL, column_classes=classes)
    assert redactor.mask_key("orders", {"iban": "DE89", "line": 2}) == {"iban": FIXED_MASK, "line": 2}


def test_stored_results_hold_keyed_hashes_that_still_join(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dagster pickles step outputs; the verdict joins integrity and reconciliation findings by key.
    spec_file = tmp_path / "m.yaml"
    spec_file.write_text(
        "source: {url: 'postgresql://app:s3cret@db/a'}\ntarget: {url: 'postgresql://app:s3cret@db/b'}\n"
        "tables:\n  - source: customers\n    columns: {email: {classification: restricted}}\n"
    )
    spec = load_spec(spec_file)
    monkeypatch.delenv(REDACTION_KEY_ENV, raising=False)
    first, again = pseudonymiser_for(spec).redact(EMAIL), pseudonymiser_for(spec).redact(EMAIL)
    assert first == again and "bob@" not in repr(first)
    assert str(first.source_value).startswith("hmac:") and first.source_value != first.target_value
    monkeypatch.setenv(REDACTION_KEY_ENV, "another key")
    assert pseudonymiser_for(spec).redact(EMAIL).source_value != first.source_value


def test_a_rule_over_a_hidden_column_hides_its_message() -> None:
    # A temporal rule reports on updated_at but quotes created_at's value too.
    violation = Finding(
        table="accounts",
        category=Category.TEMPORAL_VIOLATION,
        severity=Severity.ERROR,
        column="updated_at",
        key={"id": 1},
        target_value="2024-01-01",
        rule="updated_at >= opened_on",
        message="updated_at 2024-01-01 is before opened_on 1987-06-05 (1 row(s) in all)",
    )
    classes = {"accounts": {"opened_on": Classification.RESTRICTED, "opened": Classification.RESTRICTED}}
    redacted = Redactor(clearance=Classification.INTERNAL, column_classes=classes).redact(violation)
    assert "1987" not in redacted.message and redacted.target_value == "2024-01-01"
    # A column whose name is only part of a word in the rule is not named by it.
    only_prefix = {"accounts": {"opened": Classification.RESTRICTED}}
    assert (
        Redactor(clearance=Classification.INTERNAL, column_classes=only_prefix).redact(violation) == violation
    )


def test_a_check_error_on_a_hidden_column_keeps_its_reason_but_not_what_it_quotes() -> None:
    # PostgreSQL quotes the value it could not cast: on a restricted column, that is the value.
    error = Finding(
        table="people",
        category=Category.CHECK_ERROR,
        severity=Severity.ERROR,
        column="ssn",
        rule="expectation be_unique(ssn)",
        message="integrity check expectation be_unique(ssn) on people.ssn could not run: invalid input "
        'syntax for type integer: "123-45-6789"',
    )
    classes = {"people": {"ssn": Classification.RESTRICTED}}
    redacted = Redactor(clearance=Classification.INTERNAL, column_classes=classes).redact(error)
    assert "123-45" not in redacted.message
    assert "invalid input syntax for type integer" in redacted.message
