"""Building the async engine from a configured URL, and checking it can be reached.

``sqlite:///PATH`` (the default, an embedded file) and ``postgresql://...`` are
accepted; the asyncio drivers (aiosqlite, asyncpg) are chosen here. SQLite runs in
WAL mode (readers never block the writer) with foreign keys on and a busy timeout,
so several connections and processes can share the file.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from contactcore.errors import ConfigError, DependencyUnavailable
from contactcore.settings import async_database_url

log = logging.getLogger(__name__)

# How long a SQLite writer waits for another writer's lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0


def mask_url(url: str) -> str:
    """The URL with its password hidden, safe for logs and error lines."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _parse(url: str) -> URL:
    try:
        return make_url(async_database_url(url))
    except ArgumentError:
        raise ConfigError(
            f"config: 'database.url' {mask_url(url)!r} is not a database URL: "
            "use sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
        ) from None


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for PostgreSQL and in-memory databases."""
    parsed = _parse(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def build_engine(url: str, *, echo: bool = False, foreign_keys: bool = True) -> AsyncEngine:
    """An AsyncEngine for the configured URL; creates a SQLite file's directory."""
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"echo": echo}
    if backend == "sqlite":
        path = sqlite_path(url)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DependencyUnavailable(
                    f"database {mask_url(url)}: cannot create directory {path.parent}: "
                    f"{exc.strerror}; check the path in database.url and its permissions"
                ) from None
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    elif backend == "postgresql":
        kwargs["connect_args"] = {"timeout": CONNECT_TIMEOUT_S}
        kwargs["pool_pre_ping"] = True
    else:
        raise ConfigError(
            f"config: 'database.url' backend {backend!r} is not supported: "
            "use sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
        )
    engine = create_async_engine(parsed, **kwargs)
    if backend == "sqlite":
        _configure_sqlite(engine, foreign_keys=foreign_keys)
    return engine


def _configure_sqlite(engine: AsyncEngine, *, foreign_keys: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()


def unavailable(url: str, exc: BaseException) -> DependencyUnavailable:
    """One line naming the database (password masked) and what to check."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = reason[0] if reason else type(exc).__name__
    if sqlite_path(url) is not None:
        hint = "check that the file and its directory are writable"
    else:
        hint = "check that PostgreSQL is running, the host/port, user, password and database name"
    return DependencyUnavailable(f"database {mask_url(url)} unavailable ({first}); {hint}")


async def check_connection(engine: AsyncEngine, url: str) -> None:
    """Run ``SELECT 1``; raise DependencyUnavailable with one readable line if it fails."""
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S + 5):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except (OSError, SQLAlchemyError, TimeoutError) as exc:
        raise unavailable(url, exc) from None
