"""Where the centre's day begins: "today" on the wallboard and in agents' numbers."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from contactcore.errors import ConfigError
from contactcore.settings import load_settings
from contactcore.web.desk import day_start

NEW_YORK = ZoneInfo("America/New_York")


def at(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=zone).timestamp()


def test_the_day_begins_at_local_midnight() -> None:
    utc = ZoneInfo("UTC")
    assert day_start(at(utc, 2027, 1, 18, 23, 30), utc) == at(utc, 2027, 1, 18)
    # 01:30 UTC on the 19th is still the 18th in New York
    assert day_start(at(utc, 2027, 1, 19, 1, 30), NEW_YORK) == at(NEW_YORK, 2027, 1, 18)
    berlin = ZoneInfo("Europe/Berlin")
    assert day_start(at(utc, 2027, 1, 18, 23, 30), berlin) == at(berlin, 2027, 1, 19)


@pytest.mark.parametrize(
    ("moment", "hours"),
    [((2027, 3, 14, 12), 23), ((2027, 11, 7, 12), 25)],  # clocks go forward, then back
)
def test_days_when_the_clocks_change(moment: tuple[int, int, int, int], hours: int) -> None:
    start = day_start(at(NEW_YORK, *moment), NEW_YORK)
    assert start == at(NEW_YORK, *moment[:3])
    next_day = at(NEW_YORK, *moment[:2], moment[2] + 1, 12)
    assert day_start(next_day, NEW_YORK) - start == hours * 3600


def test_the_time_zone_setting_is_checked() -> None:
    s = load_settings(environ={"CONTACTCORE_WEB__TIMEZONE": "America/New_York"})
    assert s.web.timezone == "America/New_York"
    assert load_settings(environ={}).web.timezone == "UTC"
    with pytest.raises(ConfigError, match=r"'web.timezone'.*no IANA time zone"):
        load_settings(environ={"CONTACTCORE_WEB__TIMEZONE": "Mars/Olympus"})
