"""Alembic environment: runs on the connection handed in by ``adapters.db.migrate``.

There is no alembic.ini; ``migrate.py`` builds the Config in code, opens an async
connection and calls Alembic through ``run_sync``, putting the sync connection in
``config.attributes["connection"]``. SQLite runs in batch mode so that ALTERs work.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo

from contactcore.adapters.db.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `contactcore db ...`, not the alembic command")


def _on_version_apply(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    # The revision applied (upgrade) or reverted (downgrade) by this step.
    applied: list[str] = config.attributes.setdefault("applied", [])
    applied.extend(step.up_revision_ids)


context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    on_version_apply=_on_version_apply,
)
with context.begin_transaction():
    context.run_migrations()
