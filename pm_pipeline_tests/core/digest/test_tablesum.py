"""The ``xor64-sql-rowhash-1`` contract: a checksum is the XOR's 64-bit pattern whatever the engine's
sign, and two sides compare only without tolerance bins."""

from __future__ import annotations

from pm_pipeline.core.digest.tablesum import checksum, comparable, recipe


def test_the_checksum_is_the_bit_pattern_whatever_the_sign() -> None:
    # MariaDB's BIT_XOR is unsigned, PostgreSQL's bit_xor(bigint) signed: equal bits, equal text.
    assert checksum(-1) == checksum((1 << 64) - 1) == "ffffffffffffffff"
    assert checksum(0) == "0000000000000000"
    assert checksum(255) == "00000000000000ff"


def test_sides_with_tolerance_bins_are_not_comparable() -> None:
    plain = recipe(dialect="postgresql", native_hash=False, key_columns=1, binned={})
    binned = recipe(dialect="postgresql", native_hash=False, key_columns=1, binned={"price": 0.01})
    assert plain == {"dialect": "postgresql", "native_hash": False, "key_columns": 1, "binned": {}}
    assert comparable(plain) and not comparable(binned)
    assert comparable({})  # a manifest side without a recipe (ManifestEntry passes {})
