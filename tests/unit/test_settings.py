from pathlib import Path

import pytest

from contactcore.errors import ConfigError
from contactcore.settings import async_database_url, load_settings


def test_defaults_are_loopback(tmp_path: Path) -> None:
    s = load_settings(environ={})
    assert s.ari.url == "http://127.0.0.1:8088"
    assert s.web.port == 8080
    assert s.database.url.startswith("sqlite:///")


def test_environment_overrides_file(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[web]\nport = 9000\n[ari]\npassword = "from-the-file"\n')
    s = load_settings(
        f, environ={"CONTACTCORE_WEB__PORT": "9100", "DATABASE_URL": "postgresql://x@h/db"}
    )
    assert s.web.port == 9100
    assert s.ari.password == "from-the-file"
    assert s.async_database_url == "postgresql+asyncpg://x@h/db"


def test_bad_value_names_key_and_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"CONTACTCORE_WEB__PORT": "eighty"})
    line = str(err.value)
    assert "'web.port'" in line
    assert "CONTACTCORE_WEB__PORT" in line
    assert "\n" not in line


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[ari]\npasword = 'typo-typo'\n")
    with pytest.raises(ConfigError, match=r"unknown key 'ari.pasword'"):
        load_settings(f, environ={})


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_broken_toml(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[ari\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(f, environ={})


def test_async_urls() -> None:
    assert async_database_url("sqlite:///var/x.db") == "sqlite+aiosqlite:///var/x.db"
    assert async_database_url("postgres://u@h/d") == "postgresql+asyncpg://u@h/d"


def test_example_file_documents_the_defaults() -> None:
    from contactcore.settings import Settings

    example = Path(__file__).parents[2] / "contactcore.example.toml"
    assert load_settings(example, environ={}) == Settings()


def test_routing_batch_is_bounded() -> None:
    from contactcore.acd.service import MATCH_LIMIT

    assert load_settings(environ={}).routing.match_limit == MATCH_LIMIT
    s = load_settings(environ={"CONTACTCORE_ROUTING__MATCH_LIMIT": "8"})
    assert s.routing.match_limit == 8
    with pytest.raises(ConfigError, match=r"'routing.match_limit'"):
        load_settings(environ={"CONTACTCORE_ROUTING__MATCH_LIMIT": "0"})
