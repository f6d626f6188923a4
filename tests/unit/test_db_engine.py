"""Engine building and hashing helpers: no database server needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from contactcore.adapters.db.engine import build_engine, mask_url, sqlite_path, unavailable
from contactcore.adapters.db.hashing import hash_secret, verify_secret
from contactcore.errors import ConfigError, DependencyUnavailable


def test_mask_url_hides_the_password() -> None:
    assert mask_url("postgresql://cc:s3cret@db:5432/cc") == "postgresql://cc:***@db:5432/cc"
    assert mask_url("sqlite:///var/contactcore.db") == "sqlite:///var/contactcore.db"


def test_sqlite_path() -> None:
    assert sqlite_path("sqlite:///var/contactcore.db") == Path("var/contactcore.db")
    assert sqlite_path("sqlite:////abs/x.db") == Path("/abs/x.db")
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("postgresql://u@h/d") is None


async def test_build_engine_creates_the_directory(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "cc.db"
    engine = build_engine(f"sqlite:///{target}")
    await engine.dispose()
    assert target.parent.is_dir()
    assert engine.dialect.driver == "aiosqlite"


async def test_postgres_uses_asyncpg() -> None:
    engine = build_engine("postgresql://u@127.0.0.1/d")
    await engine.dispose()
    assert engine.dialect.driver == "asyncpg"


def test_unbuildable_directory_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DependencyUnavailable, match="cannot create directory"):
        build_engine(f"sqlite:///{blocker}/sub/cc.db")


def test_unsupported_backend() -> None:
    with pytest.raises(ConfigError, match=r"database\.url"):
        build_engine("mysql://u@h/d")


def test_unavailable_is_one_masked_line() -> None:
    err = unavailable("postgresql://cc:pw@h:5/d", OSError("Connect call failed\nmore"))
    assert str(err) == (
        "database postgresql://cc:***@h:5/d unavailable (Connect call failed); "
        "check that PostgreSQL is running, the host/port, user, password and database name"
    )


def test_hashes_are_salted_and_verify() -> None:
    one, two = hash_secret("1234"), hash_secret("1234")
    assert one != two
    assert one.startswith("$argon2id$")
    assert verify_secret(one, "1234")
    assert not verify_secret(one, "1235")
    assert not verify_secret("not-a-hash", "1234")
