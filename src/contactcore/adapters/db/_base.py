"""What every repository shares: one transaction per use case, error mapping, upserts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Insert

from contactcore.core.clock import Clock, SystemClock
from contactcore.errors import Conflict, DependencyUnavailable


class Repository:
    """Base: an engine, a clock, and a transaction helper mapping driver errors to ours."""

    def __init__(self, engine: AsyncEngine, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()

    @asynccontextmanager
    async def _tx(
        self, conflict: str = "conflicts with existing data"
    ) -> AsyncIterator[AsyncConnection]:
        """One transaction; a constraint violation becomes Conflict(``conflict``)."""
        try:
            async with self._engine.begin() as conn:
                yield conn
        except IntegrityError as exc:
            raise Conflict(f"{conflict} ({_first_line(exc)})") from None
        except (OperationalError, InterfaceError, OSError) as exc:
            raise DependencyUnavailable(f"database unavailable: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def dialect_insert(conn: AsyncConnection, table: Table) -> Insert:
    """INSERT with ``on_conflict_*`` for the connection's backend."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def upsert(
    conn: AsyncConnection,
    table: Table,
    values: Mapping[str, Any],
    keys: Sequence[str],
    update: Sequence[str] | None = None,
) -> Insert:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET the other (or given) columns."""
    stmt: Any = dialect_insert(conn, table).values(**values)
    cols = update if update is not None else [k for k in values if k not in keys]
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[table.c[k] for k in keys],
        set_={c: stmt.excluded[c] for c in cols},
    )


def insert_ignore(
    conn: AsyncConnection, table: Table, values: Mapping[str, Any], keys: Sequence[str]
) -> Insert:
    """INSERT ... ON CONFLICT (keys) DO NOTHING: idempotent for redelivered data."""
    stmt: Any = dialect_insert(conn, table).values(**values)
    return stmt.on_conflict_do_nothing(  # type: ignore[no-any-return]
        index_elements=[table.c[k] for k in keys]
    )
