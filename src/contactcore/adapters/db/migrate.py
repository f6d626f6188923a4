"""Schema migrations through Alembic's API, without an alembic.ini.

The migration scripts live in this package (``migrations/``) so an installed
contactcore can migrate its own database: ``contactcore db upgrade`` and the
controller's start-up both call :func:`upgrade`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from contactcore.adapters.db.engine import build_engine, mask_url, unavailable
from contactcore.errors import ContactcoreError, InvalidInput

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

T = TypeVar("T")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def _run(url: str, work: Callable[[Connection], T]) -> T:
    # Foreign keys off on SQLite: batch mode rebuilds tables by copy-and-drop, which
    # must not cascade into (or be refused by) the rows that refer to them.
    engine = build_engine(url, foreign_keys=False)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    except (OSError, SQLAlchemyError, TimeoutError) as exc:
        raise unavailable(url, exc) from None
    finally:
        await engine.dispose()


def _migrate(direction: str, revision: str) -> Callable[[Connection], list[str]]:
    def work(conn: Connection) -> list[str]:
        config = alembic_config()
        config.attributes["connection"] = conn
        config.attributes["applied"] = []
        try:
            if direction == "up":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
        except CommandError as exc:
            raise InvalidInput(f"db: {exc}") from None
        applied: list[str] = config.attributes["applied"]
        return applied

    return work


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def upgrade(url: str, revision: str = "head") -> list[str]:
    """Apply pending migrations up to ``revision``; return the revisions applied, in order."""
    applied = await _run(url, _migrate("up", revision))
    for rev in applied:
        log.info("database migrated up to %s", rev)
    return applied


async def downgrade(url: str, revision: str) -> list[str]:
    """Revert migrations down to ``revision`` (``base`` = empty); return those reverted."""
    reverted = await _run(url, _migrate("down", revision))
    for rev in reverted:
        log.info("database migration %s reverted", rev)
    return reverted


async def current(url: str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    return await _run(url, _current)


class SchemaOutdated(ContactcoreError):
    """The database's schema is not the one this version of contactcore needs."""

    error_id = "database.schema_outdated"


async def require_head(url: str) -> None:
    """Raise SchemaOutdated (one line, with the fix) unless the schema is at head."""
    rev, head = await current(url), head_revision()
    if rev != head:
        raise SchemaOutdated(
            f"database {mask_url(url)} is at schema {rev or 'none'}, this contactcore "
            f"needs {head}: run `contactcore db upgrade` first"
        )
