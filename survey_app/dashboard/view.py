"""What a dashboard view selects, read from its URL, so that a view can be shared.

``agency`` and ``service`` choose what is shown in detail (the drill-down); the
other parameters filter every figure, chart and data link of the page alike:
``last=3|6|12`` months, or ``from``/``to`` local days; ``questionnaire``,
``channel`` and ``essential=true``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from litestar.exceptions import ValidationException

from survey_app.statistics.filters import FilterError, Filters

LAST_MONTHS = (3, 6, 12)
# The parameters a view keeps in its URL, in the order they are written.
KEPT = ("agency", "service", "last", "from", "to", "questionnaire", "channel", "essential")


@dataclass(frozen=True)
class Selection:
    filters: Filters  # every filter but the agency and the service
    agency: str | None = None
    service: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def detail(self) -> Filters:
        """The filters of what is shown in detail: the agency (and its service)."""
        return replace(self.filters, agency=self.agency, service=self.service)

    def showing(self, agency: str) -> Selection:
        """The same view, showing ``agency`` in detail (and none of its services yet)."""
        params = {**self.params, "agency": agency, "service": ""}
        return replace(self, agency=agency, service=None, params=params)

    def api(self, **extra: str | None) -> str:
        """The statistics API's query string for the same filters (and ``extra``)."""
        f = self.filters
        pairs = {
            "from": f.date_from.isoformat() if f.date_from else None,
            "to": f.date_to.isoformat() if f.date_to else None,
            "questionnaire": f.questionnaire,
            "channel": f.channel,
            "essential": "true" if f.essential else None,
            **extra,
        }
        return urlencode([(k, v) for k, v in pairs.items() if v])

    def query(self, **changes: str | None) -> str:
        """This view's query string with ``changes`` (None drops a parameter)."""
        params = dict(self.params)
        for name, value in changes.items():
            name = name.rstrip("_")  # from_ -> from
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
        return urlencode([(k, params[k]) for k in (*KEPT, "lang") if params.get(k)])


def first_of_month(today: dt.date, months_back: int) -> dt.date:
    month = today.month - months_back
    year = today.year + (month - 1) // 12
    return dt.date(year, (month - 1) % 12 + 1, 1)


def selection(
    today: dt.date,
    locale: str,
    *,
    agency: str | None = None,
    service: str | None = None,
    last: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    questionnaire: str | None = None,
    channel: str | None = None,
    essential: str | None = None,
) -> Selection:
    """The view a URL asks for; 400 naming a parameter that cannot be used."""
    months = None
    if last:
        if not last.isdigit() or int(last) not in LAST_MONTHS:
            raise ValidationException(
                detail=f"last must be one of 3, 6 or 12 (months), not {last!r}"
            )
        months = int(last)
        date_from = first_of_month(today, months - 1).isoformat()
        date_to = None
    try:
        filters = Filters.parse(
            service=service,
            channel=channel or None,
            essential=essential,
            date_from=date_from or None,
            date_to=date_to or None,
            questionnaire=questionnaire or None,
        )
    except FilterError as error:
        raise ValidationException(detail=str(error)) from error
    params = {
        "agency": agency or "",
        "service": service or "",
        "last": str(months) if months else "",
        "from": "" if months else (date_from or ""),
        "to": "" if months else (date_to or ""),
        "questionnaire": questionnaire or "",
        "channel": channel or "",
        "essential": "true" if filters.essential else "",
        "lang": locale,
    }
    return Selection(
        filters=replace(filters, service=None),
        agency=agency or None,
        service=filters.service,
        params=params,
    )
