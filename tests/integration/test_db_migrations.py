"""Migrations on both backends: up from empty, idempotent, down to base and up again."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from contactcore.adapters.db import build_engine, current, downgrade, head_revision, upgrade
from contactcore.adapters.db.migrate import MigrationFailed
from contactcore.adapters.db.tables import metadata
from contactcore.cli import main

pytestmark = pytest.mark.integration

TABLES = {
    "skills",
    "queues",
    "agents",
    "agent_skills",
    "agent_sessions",
    "customers",
    "customer_phones",
    "verification_locks",
    "interactions",
    "interaction_events",
    "tasks",
    "callbacks",
    "interval_stats",
}


async def _tables(url: str) -> set[str]:
    engine = build_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_from_empty_is_idempotent(database_url: str) -> None:
    assert await current(database_url) is None
    applied = await upgrade(database_url)
    assert applied[0] == "0001"
    assert applied[-1] == head_revision()
    assert await upgrade(database_url) == []
    assert await current(database_url) == head_revision()
    assert await _tables(database_url) >= TABLES


async def test_processes_starting_together_migrate_once(database_url: str) -> None:
    results = await asyncio.gather(*(upgrade(database_url) for _ in range(4)))
    applied = [r for r in results if r]
    assert len(applied) == 1
    assert applied[0][0] == "0001"
    assert applied[0][-1] == head_revision()
    assert await current(database_url) == head_revision()


async def test_downgrade_to_base_and_up_again(database_url: str) -> None:
    applied = await upgrade(database_url)
    assert await downgrade(database_url, "base") == applied[::-1]
    assert await current(database_url) is None
    assert not (await _tables(database_url) & TABLES)
    assert await upgrade(database_url) == applied
    assert await _tables(database_url) >= TABLES


async def test_migrations_match_the_tables_module(database_url: str) -> None:
    """The tables module and the migration scripts describe the same schema."""
    await upgrade(database_url)
    engine = build_engine(database_url)

    def diff(conn: Connection) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


def test_cli_upgrade_current_downgrade(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.delenv("CONTACTCORE_CONFIG", raising=False)
    assert main(["db", "upgrade"]) == 0
    assert f"now at {head_revision()}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert "already up to date" in capsys.readouterr().out
    assert main(["db", "current"]) == 0
    assert "(up to date)" in capsys.readouterr().out
    assert main(["db", "downgrade", "base"]) == 0
    assert f"reverted {head_revision()}" in capsys.readouterr().out  # newest first
    assert main(["db", "current"]) == 0
    assert "empty" in capsys.readouterr().out


def test_cli_unreachable_database_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://cc:s3cret@127.0.0.1:1/contactcore")
    assert main(["db", "upgrade"]) == 3
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "s3cret" not in err
    assert "postgresql://cc:***@127.0.0.1:1/contactcore" in err
    assert "check that PostgreSQL is running" in err


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    engine = build_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    finally:
        await engine.dispose()


async def test_failed_migration_is_one_clear_error(database_url: str) -> None:
    """A table made by hand collides with the first migration: an error, not a crash."""
    engine = build_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE skills (id VARCHAR(40) PRIMARY KEY)")
    finally:
        await engine.dispose()
    with pytest.raises(MigrationFailed, match="migration failed") as err:
        await upgrade(database_url)
    assert "skills" in str(err.value)
    assert "\n" not in str(err.value)
    assert await current(database_url) is None
    # All or nothing: the tables created before the collision were rolled back.
    assert await _tables(database_url) == {"skills"}
