"""Mask the values of columns classified above a report's clearance, before any view sees them."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from enum import StrEnum

from pm_pipeline.core.config.spec import Classification
from pm_pipeline.core.errors import BadInputError
from pm_pipeline.core.findings import Category, Finding, JsonValue

FIXED_MASK = "***"
REDACTION_KEY_ENV = "PM_REDACTION_KEY"
_VALUE_FIELDS = ("source_value", "target_value", "source_canonical", "target_canonical")


class RedactionMode(StrEnum):
    """How values above clearance are shown: a fixed mask, or a keyed hash that keeps equal values equal."""

    FIXED = "fixed"
    HMAC = "hmac"


class Redactor:
    """Masks values per (table, column) classification against one clearance.

    NULL stays NULL: whether a value is missing is what a reader needs to see to judge a
    NULL-handling difference, and it reveals nothing about the value itself.
    """

    def __init__(
        self,
        *,
        clearance: Classification,
        mode: RedactionMode = RedactionMode.FIXED,
        column_classes: Mapping[str, Mapping[str, Classification]] | None = None,
        key: bytes | None = None,
    ) -> None:
        self.clearance = clearance
        self.mode = mode
        self.column_classes = column_classes or {}
        if mode is RedactionMode.HMAC and key is None:
            raw = os.environ.get(REDACTION_KEY_ENV)
            if not raw:
                raise BadInputError(
                    f"report redaction 'hmac' needs a key in the environment variable {REDACTION_KEY_ENV}"
                )
            key = raw.encode()
        self._key = key or b""

    def is_hidden(self, classification: Classification | None) -> bool:
        return classification is not None and classification.rank > self.clearance.rank

    def classification_of(self, table: str, column: str | None) -> Classification | None:
        if column is None:
            return None
        return self.column_classes.get(table, {}).get(column)

    def mask(self, value: JsonValue) -> JsonValue:
        if value is None:
            return None
        if self.mode is RedactionMode.FIXED:
            return FIXED_MASK
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
        return "hmac:" + hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:12]

    def mask_key(self, table: str, key: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
        """A row's key with the values of its hidden columns masked."""
        return {
            column: self.mask(value) if self.is_hidden(self.classification_of(table, column)) else value
            for column, value in key.items()
        }

    def redact(self, finding: Finding) -> Finding:
        """Return the finding with every value above clearance masked (values, canonicals, keys)."""
        hidden: list[JsonValue] = []
        changes: dict[str, object] = {}
        column_class = finding.classification or self.classification_of(finding.table, finding.column)
        if self.is_hidden(column_class):
            for name in _VALUE_FIELDS:
                value = getattr(finding, name)
                if value is not None:
                    hidden.append(value)
                    changes[name] = self.mask(value)
        if finding.key:
            new_key: dict[str, JsonValue] = {}
            for key_column, value in finding.key.items():
                if self.is_hidden(self.classification_of(finding.table, key_column)) and value is not None:
                    hidden.append(value)
                    new_key[key_column] = self.mask(value)
                else:
                    new_key[key_column] = value
            if hidden:
                changes["key"] = new_key
        message = self._message(finding, hidden)
        if message != finding.message:
            changes["message"] = message
        if not changes:
            return finding
        return dataclasses.replace(finding, **changes)  # type: ignore[arg-type]

    def _message(self, finding: Finding, hidden: list[JsonValue]) -> str:
        """Messages are free text written by the checks: one quoting a hidden value (a sample list's
        item included, in any quoting) is replaced whole. An expectation's message names its first
        failing row (``first at {...}``), whose key columns may be hidden whatever the column is. A
        rule over several columns (``updated_at >= created_at``) quotes each one's value: a hidden
        column named in the rule hides the message (a check error's, only what it quotes)."""
        message = finding.message
        if (
            finding.rule
            and message
            and any(
                self.is_hidden(c) and re.search(rf"\b{re.escape(name)}\b", finding.rule)
                for name, c in self.column_classes.get(finding.table, {}).items()
            )
        ):
            # A check that could not run keeps the database's reason, minus what it quotes (a value
            # it could not cast, say).
            return _QUOTED.sub("'***'", message) if finding.category is Category.CHECK_ERROR else _REDACTED
        head, at, tail = message.partition(_FIRST_AT)
        if at and any(
            self.is_hidden(c)
            for name, c in self.column_classes.get(finding.table, {}).items()
            if repr(name) in tail
        ):
            message = head
        if any(text in message for value in hidden for text in _texts(value)):
            return _REDACTED
        return message


_FIRST_AT = "; first at "
_REDACTED = "[message redacted: it quotes values above the report's clearance]"
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")


def _texts(value: JsonValue) -> set[str]:
    """Every way a message may quote the value or, for a list or mapping, any item of it."""
    texts = {json.dumps(value, ensure_ascii=False), repr(value)} if not isinstance(value, str) else {value}
    if isinstance(value, list):
        for item in value:
            texts |= _texts(item)
    elif isinstance(value, dict):
        for item in value.values():
            texts |= _texts(item)
    return {text for text in texts if text and text != "None"}
