"""Foreign keys that reach into a restored table set from outside it."""

from __future__ import annotations

from collections.abc import Sequence

from pm_pipeline.core.connectors import Connector
from pm_pipeline.core.errors import IntegrityRefusal


def refuse_outside_references(connector: Connector, tables: Sequence[str]) -> None:
    """Refuse a restore of ``tables`` that a table outside them references by foreign key.

    Emptying a referenced table would fail on, or cascade into, rows the snapshot does not hold
    (and on MariaDB the referencing key would follow the swapped-out table)."""
    references = connector.foreign_keys_into(tables)
    found = [f"{child} ({name} -> {parent})" for child, name, parent in references]
    if found:
        outside = sorted({child for child, _, _ in references})
        raise IntegrityRefusal(
            f"rollback refused: tables outside the snapshot reference tables it restores "
            f"({'; '.join(found)}); emptying them would break those rows. Snapshot and restore "
            f"{', '.join(outside)} too (rollback.tables)"
        )
