"""Schema migrations through Alembic's API, without an alembic.ini.

The migration scripts live in this package (``migrations/``) so an installed
contactcore can migrate its own database: ``contactcore db upgrade`` and the
controller's start-up both call :func:`upgrade`.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from contactcore.adapters.db.engine import (
    build_engine,
    check_connection,
    mask_url,
    sqlite_path,
    unavailable,
)
from contactcore.errors import ContactcoreError, InvalidInput

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

T = TypeVar("T")


class MigrationFailed(ContactcoreError):
    """A migration script failed on this database."""

    error_id = "database.migration_failed"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


# Any constant: the PostgreSQL advisory lock that serialises migrating processes.
_PG_MIGRATION_LOCK = 0x636F6E74


@asynccontextmanager
async def _sqlite_file_lock(url: str) -> AsyncIterator[None]:
    """Serialise migrations of one SQLite file across processes (DDL is not transactional)."""
    path = sqlite_path(url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Opening a small local file is quick; only the wait for the lock goes to a thread.
    with open(f"{path}.migrate-lock", "w") as handle:  # noqa: ASYNC230
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def _run(url: str, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in one transaction, one migrating process at a time.

    Several controllers may start at once and all call :func:`upgrade`: on PostgreSQL
    an advisory lock held for the transaction makes the others wait and then find
    nothing to do; on SQLite a lock file does the same.
    """
    # Foreign keys off on SQLite: batch mode rebuilds tables by copy-and-drop, which
    # must not cascade into (or be refused by) the rows that refer to them.
    engine = build_engine(url, foreign_keys=False)
    try:
        # Reaching the database is checked apart, so that a failure there reads as
        # "unavailable" and a failure of a migration itself as what it is; inside the
        # lock, because SQLite's switch to WAL on a first connection does not wait for
        # a migrating process.
        async with _sqlite_file_lock(url):
            await check_connection(engine, url)
            async with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    await conn.exec_driver_sql(
                        f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"
                    )
                else:
                    # The driver never opens a transaction before DDL; opening one ourselves
                    # makes a failed migration leave nothing behind, as on PostgreSQL.
                    await conn.exec_driver_sql("BEGIN IMMEDIATE")
                return await conn.run_sync(work)
    except (OSError, TimeoutError) as exc:
        raise unavailable(url, exc) from None
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise MigrationFailed(
            f"database {mask_url(url)}: migration failed ({detail[0] if detail else exc!r}); "
            "nothing was changed"
        ) from None
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
