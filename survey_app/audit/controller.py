"""``/api/v1/audit``: who read comments and microdata, for admins only.

Read-only: GET, as JSON or as a CSV/XLSX download (``format=csv|xlsx``) written by the
statistics' own renderer, so a cell a spreadsheet would run as a formula (a username or a
filter value starting with ``=``) is prefixed with ``'`` as in every other export.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import pandas as pd
from litestar import Controller, Response, get
from litestar.exceptions import ValidationException
from litestar.params import FromQuery, QueryParameter

from survey_app.audit import log
from survey_app.auth.guards import staff_or_key
from survey_app.db.tables import Role
from survey_app.lib.openapi import API_ERRORS, DownloadOperation
from survey_app.statistics.filters import FilterError, Filters, check_text
from survey_app.statistics.render import check_format, render

MAX_ROWS = 10_000
MAX_ID = 2**31 - 1  # an API key id is an INTEGER column
COLUMNS = [
    "id",
    "read_at",
    "actor",
    "user_id",
    "username",
    "key_id",
    "role",
    "agency",
    "route",
    "format",
    "filters",
    "row_count",
]
WHOLE_NUMBERS = ("id", "user_id", "key_id", "row_count")


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "read_at": row["read_at"].isoformat(),
        "actor": row["actor"],
        "user_id": row["user_id"],
        "username": row["username"],
        "key_id": row["key_id"],
        "role": row["role"],
        "agency": row["agency_code"],
        "route": row["route"],
        "format": row["format"],
        "filters": row["filters"],
        "row_count": row["row_count"],
    }


def _frame(entries: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per entry; the filters as one JSON text cell, empty numbers left empty."""
    frame = pd.DataFrame(
        [{**e, "filters": json.dumps(e["filters"], sort_keys=True)} for e in entries],
        columns=COLUMNS,
    )
    for column in WHOLE_NUMBERS:
        frame[column] = frame[column].astype("Int64")
    return frame


def _query(
    date_from: str | None, date_to: str | None, user: str | None, key: int | None, route: str | None
) -> log.AuditQuery:
    try:
        days = Filters.parse(date_from=date_from, date_to=date_to)
        for name, value in (("user", user), ("route", route)):
            if value:
                check_text(value, name)
    except FilterError as error:
        raise ValidationException(detail=str(error)) from error
    return log.AuditQuery(days.date_from, days.date_to, user or None, key, route or None)


class AuditController(Controller):
    """``/api/v1/audit``: the audit log, admins only (key or session)."""

    path = "/api/v1/audit"
    tags = ["audit"]
    guards = [staff_or_key(Role.admin, what="The audit log")]

    @get(
        "/",
        summary="Who read comments and microdata: the audit log, newest first (admins)",
        raises=API_ERRORS,
        operation_class=DownloadOperation,
    )
    async def audit_log(
        self,
        date_from: Annotated[
            str | None, QueryParameter(name="from", description="First day (UTC), YYYY-MM-DD")
        ] = None,
        date_to: Annotated[
            str | None, QueryParameter(name="to", description="Last day (UTC), YYYY-MM-DD")
        ] = None,
        user: Annotated[
            str | None, QueryParameter(description="Reads by this staff login (username)")
        ] = None,
        key: Annotated[
            int | None, QueryParameter(description="Reads with this API key (id)", ge=1, le=MAX_ID)
        ] = None,
        route: Annotated[
            str | None, QueryParameter(description="Reads of this route, e.g. /api/v1/comments")
        ] = None,
        format: FromQuery[str] = "json",
    ) -> Response[Any]:
        """At most 10,000 entries, newest first; ``truncated`` says when there were more."""
        fmt = check_format(format)
        query = _query(date_from, date_to, user, key, route)
        rows = await log.entries(query, limit=MAX_ROWS + 1)
        shown = [_entry(row) for row in rows[:MAX_ROWS]]
        body = {
            "filters": query.to_dict(),
            "count": len(shown),
            "truncated": len(rows) > MAX_ROWS,
            "entries": shown,
        }
        return render(fmt, "audit", body, _frame(shown))
