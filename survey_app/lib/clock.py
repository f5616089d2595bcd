"""Time as the service stores it (aware, in UTC) and as it counts it (local days)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from survey_app.lib.settings import local_zone


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back; every stored time is UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def local_day(moment: dt.datetime, zone: ZoneInfo | None = None) -> dt.date:
    """The day ``moment`` falls on in ``SURVEY_TIMEZONE`` (naive moments are UTC)."""
    return as_utc(moment).astimezone(zone or local_zone()).date()
