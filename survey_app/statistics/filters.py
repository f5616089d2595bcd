"""Filters shared by every statistics endpoint, export and report, and their parser for
requests (the ``filters`` dependency)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import asdict, dataclass
from typing import Annotated

from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromQuery, QueryParameter

from survey_app.db.tables import Channel
from survey_app.lib.settings import SUPPORTED_LOCALES

GROUP_BY = ("agency", "service", "channel")
PERIODS = ("day", "week", "month", "quarter")
# The days a filter may name: every response falls well inside, and a day past the
# last one (an end is exclusive) is still a date.
FIRST_DAY = dt.date(2000, 1, 1)
LAST_DAY = dt.date(2100, 12, 31)


class FilterError(ValueError):
    """A filter value that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Filters:
    agency: str | None = None
    service: str | None = None
    channel: str | None = None
    locale: str | None = None
    essential: bool = False
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    questionnaire: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            key: value.isoformat() if isinstance(value, dt.date) else value
            for key, value in asdict(self).items()
        }

    @classmethod
    def parse(
        cls,
        *,
        agency: str | None = None,
        service: str | None = None,
        channel: str | None = None,
        locale: str | None = None,
        essential: str | bool | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        questionnaire: str | None = None,
    ) -> Filters:
        for name, value in (
            ("questionnaire", questionnaire),
            ("agency", agency),
            ("service", service),
            ("channel", channel),
            ("locale", locale),
            ("essential", essential),
            ("from", date_from),
            ("to", date_to),
        ):
            if isinstance(value, str):
                check_text(value, name)
        if channel is not None and channel not in {c.value for c in Channel}:
            raise FilterError(
                f"unknown channel {channel!r}: use one of {', '.join(c.value for c in Channel)}"
            )
        if locale is not None and locale not in SUPPORTED_LOCALES:
            raise FilterError(
                f"unknown locale {locale!r}: use one of {', '.join(SUPPORTED_LOCALES)}"
            )
        start, end = _date(date_from, "from"), _date(date_to, "to")
        if start and end and start > end:
            raise FilterError(f"'from' ({start}) is after 'to' ({end})")
        return cls(
            agency=agency or None,
            service=service or None,
            channel=channel,
            locale=locale,
            essential=_flag(essential),
            date_from=start,
            date_to=end,
            questionnaire=questionnaire or None,
        )


async def parse_filters(
    agency: FromQuery[str | None] = None,
    service: FromQuery[str | None] = None,
    channel: FromQuery[str | None] = None,
    locale: FromQuery[str | None] = None,
    essential: FromQuery[str | None] = None,
    date_from: Annotated[
        str | None, QueryParameter(name="from", description="First local day, YYYY-MM-DD")
    ] = None,
    date_to: Annotated[
        str | None, QueryParameter(name="to", description="Last local day, YYYY-MM-DD")
    ] = None,
    questionnaire: Annotated[
        str | None,
        QueryParameter(description="Only the responses to this questionnaire (its id)"),
    ] = None,
) -> Filters:
    try:
        return Filters.parse(
            agency=agency,
            service=service,
            channel=channel,
            locale=locale,
            essential=essential,
            date_from=date_from,
            date_to=date_to,
            questionnaire=questionnaire,
        )
    except FilterError as error:
        raise ValidationException(detail=str(error)) from error


# How handlers ask for the parsed filters (dependency named ``filters``).
FiltersDep = NamedDependency[Filters]


def check_text(value: str, name: str) -> None:
    """Refuse a value with a control character (NUL, line breaks, ...): no code has one,
    and PostgreSQL cannot even compare a NUL."""
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise FilterError(f"{name!r} must not contain control characters")


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as error:
        raise FilterError(f"{name!r} must be a date like 2026-03-31, not {value!r}") from error
    if not FIRST_DAY <= day <= LAST_DAY:
        raise FilterError(f"{name!r} must be a day from {FIRST_DAY} to {LAST_DAY}, not {value!r}")
    return day


def _flag(value: str | bool | None) -> bool:
    if isinstance(value, bool) or value is None:
        return bool(value)
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no", ""):
        return False
    raise FilterError(f"'essential' must be true or false, not {value!r}")


def period_label(day: dt.date, period: str) -> str:
    """The period a day falls in: 2026-03-07, 2026-W10, 2026-03 or 2026-Q1."""
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    if period == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    raise FilterError(f"unknown period {period!r}: use one of {', '.join(PERIODS)}")
