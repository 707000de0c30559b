"""The key of stored keyed hashes without PM_REDACTION_KEY: a private random file, never the spec's own text."""

from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import stat
from pathlib import Path

import pytest

from pm_pipeline.core.config import MigrationSpec, load_spec
from pm_pipeline.core.config.spec import Classification
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import Category, Finding, Severity
from pm_pipeline.core.report import REDACTION_KEY_ENV, pseudonymiser_for
from pm_pipeline.core.security.redaction_key import installation_key, installation_key_path

SOURCE, TARGET = "postgresql://app@db/a", "postgresql://app@db/b"
SSN = Finding(
    table="people",
    category=Category.VALUE_MISMATCH,
    severity=Severity.ERROR,
    column="ssn",
    key={"id": 1},
    source_value="078-05-1120",
    target_value="078-05-1121",
    message="differs",
    classification=Classification.RESTRICTED,
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(REDACTION_KEY_ENV, raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


def _spec(folder: Path) -> MigrationSpec:
    spec_file = folder / "m.yaml"
    spec_file.write_text(
        f"source: {{url: '{SOURCE}'}}\ntarget: {{url: '{TARGET}'}}\n"
        "tables:\n  - source: people\n    columns: {ssn: {classification: restricted}}\n"
    )
    return load_spec(spec_file)


def _hash_from_public_material(value: str) -> str:
    # What a reader of the spec could compute for a guessed value if the key came from the URLs alone.
    key = hashlib.sha256("\0".join(("", SOURCE, TARGET)).encode()).digest()
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return "hmac:" + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:12]


def test_a_reader_of_the_spec_cannot_rebuild_a_stored_hash(home: Path) -> None:
    stored = pseudonymiser_for(_spec(home)).redact(SSN)
    assert str(stored.source_value).startswith("hmac:")
    assert stored.source_value != _hash_from_public_material("078-05-1120")


def test_the_key_file_is_private_and_kept_so_hashes_stay_comparable(home: Path) -> None:
    first = pseudonymiser_for(_spec(home)).redact(SSN)
    path = home / "config" / "pm-pipeline" / "redaction.key"
    assert installation_key_path() == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert pseudonymiser_for(_spec(home)).redact(SSN) == first
    path.unlink()  # another installation: another key
    assert pseudonymiser_for(_spec(home)).redact(SSN).source_value != first.source_value


def test_under_dagster_the_key_lives_in_dagster_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    installation_key()
    assert (home / "dagster" / "pm-pipeline" / "redaction.key").is_file()
    assert not (home / "config").exists()


def test_concurrent_first_uses_agree_on_one_key(home: Path) -> None:
    path = home / "race" / "redaction.key"
    with multiprocessing.get_context("fork").Pool(4) as pool:
        keys = pool.map(_key_at, [str(path)] * 8)
    assert len(set(keys)) == 1 and keys[0] == installation_key(path=path)
    assert [p.name for p in path.parent.iterdir()] == ["redaction.key"]  # no scratch file left


def _key_at(path: str) -> bytes:
    return installation_key(path=Path(path))


def test_a_key_file_others_can_read_is_refused(home: Path) -> None:
    path = home / "k" / "redaction.key"
    installation_key(path=path)
    path.chmod(0o640)
    with pytest.raises(BadInputError, match=r"readable by others.*chmod 600"):
        installation_key(path=path)
    path.chmod(0o600)
    path.write_text("not hex\n")
    with pytest.raises(BadInputError, match="not a key"):
        installation_key(path=path)


def test_pm_redaction_key_still_wins(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REDACTION_KEY_ENV, "a key the operator chose")
    pseudonymiser_for(_spec(home)).redact(SSN)
    assert not installation_key_path().exists()
