"""One validated settings object, from a TOML file plus environment variables.

Precedence (highest first): environment (``CONTACTCORE_<SECTION>__<KEY>``, and the
conventional ``DATABASE_URL`` / ``REDIS_URL``), the file, the defaults. A bad value
becomes one :class:`ConfigError` line that names the key and says how to fix it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contactcore.core.clock import known_time_zone
from contactcore.errors import ConfigError

ENV_PREFIX = "CONTACTCORE_"
DEFAULT_CONFIG_FILE = "contactcore.toml"
CONFIG_FILE_ENV = "CONTACTCORE_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AriSettings(_Section):
    url: str = "http://127.0.0.1:8088"
    username: str = "contactcore"
    password: str = Field(default="contactcore-dev", min_length=8)
    app: str = "contactcore"
    request_timeout: float = Field(default=5.0, gt=0)
    reconnect_initial: float = Field(default=0.2, gt=0)
    reconnect_max: float = Field(default=5.0, gt=0)

    @field_validator("url")
    @classmethod
    def _loopback_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https:// (e.g. http://127.0.0.1:8088)")
        return value.rstrip("/")


class RedisSettings(_Section):
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "cc"

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// URL (e.g. redis://127.0.0.1:6379/0)")
        return value


class RoutingSettings(_Section):
    # decisions per routing call while tasks wait and agents are free (the default is
    # acd.service.MATCH_LIMIT): larger batches route more per second; a smaller one
    # makes another router's decision, sharing the same Redis, wait less behind it
    match_limit: int = Field(default=32, ge=1, le=256)


class DatabaseSettings(_Section):
    url: str = "sqlite:///var/contactcore.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError("must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
        return value


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # False only to serve browsers over plain HTTP on a non-loopback address
    cookie_secure: bool = True
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # the centre's day: "today" on the wallboard and in agents' numbers starts at
    # midnight in this IANA time zone
    timezone: str = "UTC"

    _known_zone = field_validator("timezone")(known_time_zone)


class SandboxSettings(_Section):
    instance: str = "default"
    root: Path = Path("/var/cache/contactcore/asterisk-rootfs")
    suite: str = "forky"
    mirror: str | None = None
    uid: int = Field(default=64060, ge=1000, lt=2**31)
    sip_port: int = Field(default=5060, ge=1, le=65535)
    ari_port: int = Field(default=8088, ge=1, le=65535)
    rtp_start: int = Field(default=20000, ge=1024, le=65000)
    rtp_end: int = Field(default=20999, ge=1024, le=65535)
    start_timeout: float = Field(default=60.0, gt=0)


class ControllerSettings(_Section):
    shutdown_grace: float = Field(default=30.0, ge=0)
    dialplans_dir: Path = Path("dialplans")
    sounds_dir: Path = Path("var/sounds")


class IvrSettings(_Section):
    default_region: str = Field(default="US", min_length=2, max_length=2)
    verify_max_attempts: int = Field(default=3, ge=1, le=10)
    verify_lock_seconds: float = Field(default=900.0, gt=0)
    tts_voice: str = "en-gb"
    tts_speed: int = Field(default=160, ge=80, le=400)
    recorded_prompts_dir: Path = Path("dialplans/recorded")


class CallbackSettings(_Section):
    """Callbacks instead of waiting; a queue's ``callback`` config overrides the policy."""

    enabled: bool = True
    offer_key: str = Field(default="*", pattern=r"^[0-9*#]$")  # press while waiting
    offer_above_ewt_seconds: float = Field(default=120.0, ge=0)  # offer when EWT exceeds it
    max_attempts: int = Field(default=3, ge=1, le=20)
    retry_seconds: float = Field(default=120.0, ge=0)
    caller_id: str = '"Contact Core" <+12025550100>'  # what the customer's phone shows
    dial_string: str = "PJSIP/{number}@customers"  # {number} is the E.164 number
    agent_ring_seconds: float = Field(default=15.0, gt=0)
    customer_ring_seconds: float = Field(default=30.0, gt=0)
    confirm_key: str = Field(default="1", pattern=r"^[0-9*#]$")
    confirm_timeout_seconds: float = Field(default=10.0, gt=0)
    skip_wrapup_after_failure: bool = True
    poll_seconds: float = Field(default=1.0, gt=0, le=60)

    @field_validator("dial_string")
    @classmethod
    def _has_number(cls, value: str) -> str:
        if "{number}" not in value:
            raise ValueError("must contain {number}, e.g. PJSIP/{number}@customers")
        return value


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    dir: Path = Path("var/log")


class WfmSettings(_Section):
    interval_seconds: int = Field(default=900, ge=60, le=86400)
    country: str = "US"  # public holidays (the `holidays` package); "" for none
    threshold_seconds: float = Field(default=20.0, ge=0)  # "answered within SL" in statistics
    history_days: int = Field(default=70, ge=7)
    store: Path | None = None  # a CSV file instead of the database (planning offline)

    @field_validator("interval_seconds")
    @classmethod
    def _divides_a_day(cls, value: int) -> int:
        if 86400 % value:
            raise ValueError("must divide a day evenly (e.g. 900 or 1800)")
        return value


class Settings(_Section):
    ari: AriSettings = AriSettings()
    redis: RedisSettings = RedisSettings()
    routing: RoutingSettings = RoutingSettings()
    database: DatabaseSettings = DatabaseSettings()
    web: WebSettings = WebSettings()
    sandbox: SandboxSettings = SandboxSettings()
    controller: ControllerSettings = ControllerSettings()
    ivr: IvrSettings = IvrSettings()
    log: LogSettings = LogSettings()
    wfm: WfmSettings = WfmSettings()
    callback: CallbackSettings = CallbackSettings()

    @property
    def async_database_url(self) -> str:
        return async_database_url(self.database.url)


def async_database_url(url: str) -> str:
    """The SQLAlchemy URL with the asyncio driver for the backend."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


def _env_overrides(environ: dict[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        out.setdefault(section, {})[key] = value
    if "DATABASE_URL" in environ:
        out.setdefault("database", {})["url"] = environ["DATABASE_URL"]
    if "REDIS_URL" in environ:
        out.setdefault("redis", {})["url"] = environ["REDIS_URL"]
    return out


def _merge(base: dict[str, Any], over: dict[str, dict[str, str]]) -> dict[str, Any]:
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for section, values in over.items():
        target = merged.setdefault(section, {})
        if isinstance(target, dict):
            target.update(values)
        else:
            merged[section] = values
    return merged


def _describe(error: Mapping[str, Any], source: str) -> str:
    loc = [str(p) for p in error.get("loc", ())]
    key = ".".join(loc) or "(top level)"
    env = ENV_PREFIX + "__".join(p.upper() for p in loc) if len(loc) == 2 else None
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        fix = "remove it or check the spelling"
        return f"config: unknown key '{key}' in {source}: {fix}"
    msg = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    where = f"set '{key}' in {source}" + (f" or {env}" if env else "")
    return f"config: '{key}' {msg}: {where}"


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read, merge and validate; raise ConfigError with one readable line on failure."""
    env = dict(os.environ if environ is None else environ)
    explicit = path is not None or CONFIG_FILE_ENV in env
    file = Path(path or env.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE))
    data: dict[str, Any] = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config: {file} is not valid TOML: {exc}; fix the file") from None
    elif explicit:
        raise ConfigError(
            f"config: file {file} does not exist: create it (see contactcore.example.toml) "
            f"or drop --config/{CONFIG_FILE_ENV}"
        )
    source = str(file) if file.exists() else "contactcore.toml"
    try:
        return Settings.model_validate(_merge(data, _env_overrides(env)))
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0], source)) from None
