"""Pure decisions of the flow: opening hours and condition tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from contactcore.core.telephony import CallContext, Verification
from contactcore.ivr.model import Hours, When


@lru_cache(maxsize=64)
def _calendar(country: str, subdivision: str | None) -> Any:
    # The calendar fills itself year by year on lookup; one per country is enough.
    return holidays.country_holidays(country, subdiv=subdivision)


def is_open(hours: Hours, at: float) -> bool:
    """True when ``at`` (epoch seconds) falls in an opening window, local to the hours' zone."""
    local = datetime.fromtimestamp(at, ZoneInfo(hours.timezone))
    day = local.date()
    if day in hours.closed_dates:
        return False
    if hours.holidays is not None:
        calendar = _calendar(hours.holidays.country, hours.holidays.subdivision)
        if day in calendar:
            return False
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in hours.windows(local.weekday()))


def holds(when: When, context: CallContext, hours: Mapping[str, Hours], at: float) -> bool:
    """Evaluate one ``when``: every test given must hold."""
    if when.open is not None and not is_open(hours[when.open], at):
        return False
    if when.tier is not None:
        tier = context.customer.tier if context.customer else None
        if tier not in when.tier:
            return False
    if when.verified is not None and (
        (context.verification is Verification.VERIFIED) != when.verified
    ):
        return False
    if when.verification is not None and context.verification not in when.verification:
        return False
    if when.attribute is not None:
        value = context.attributes.get(when.attribute)
        if when.exists is not None and (value is not None) != when.exists:
            return False
        if when.equals is not None and value != when.equals:
            return False
        if when.one_of is not None and value not in when.one_of:
            return False
    return True
