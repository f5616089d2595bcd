"""Free-text comments: an analyst reads those of their own agency, an admin any agency's."""

from __future__ import annotations

from typing import Any

import pandas as pd
from litestar import Response, get
from litestar.di import NamedDependency, Provide
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromQuery

from survey_app.apidocs import API_ERRORS, DownloadOperation
from survey_app.invitations import as_utc
from survey_app.stats.api import FiltersDep, caller, parse_filters
from survey_app.stats.counts import where_filters
from survey_app.stats.responses import check_format, render
from survey_app.storage.tables import Comment, Role

MAX_ROWS = 10_000
Reader = NamedDependency[Any]


@get(
    "/api/v1/comments",
    dependencies={
        "reader": Provide(caller(Role.admin, Role.analyst, what="Comments")),
        "filters": Provide(parse_filters),
    },
    tags=["statistics"],
    raises=API_ERRORS,
    operation_class=DownloadOperation,
    summary="Citizens' comments (analysts: their own agency only)",
)
async def comments(
    reader: Reader,
    filters: FiltersDep,
    format: FromQuery[str] = "json",
) -> Response[Any]:
    fmt = check_format(format)
    if reader.role is Role.analyst:
        own = reader.agency_code
        if own is None:
            # An analyst bound to no agency (a key or staff role set up by hand in /admin)
            # has no "own" comments; without this, no agency filter would mean all of them.
            raise PermissionDeniedException(
                detail="An analyst reads the comments of their own agency only, and has none"
            )
        if filters.agency and filters.agency != own:
            raise PermissionDeniedException(
                detail="An analyst reads the comments of their own agency only"
            )
        filters = type(filters)(**{**filters.__dict__, "agency": own})
    base = Comment.response
    rows = (
        await Comment.select(
            base.agency.code.as_alias("agency"),
            base.service.code.as_alias("service"),
            base.submitted_at.as_alias("submitted_at"),
            base.overall.as_alias("rating"),
            Comment.question,
            Comment.text,
        )
        .where(where_filters(base, filters))
        .order_by(Comment.id, ascending=False)
        .limit(MAX_ROWS)
    )
    frame = pd.DataFrame(
        [{**row, "date": as_utc(row.pop("submitted_at")).date().isoformat()} for row in rows],
        columns=["agency", "service", "rating", "question", "text", "date"],
    )
    frame = frame[["agency", "service", "date", "rating", "question", "text"]]
    body = {"filters": filters.to_dict(), "count": len(frame), "comments": frame.to_dict("records")}
    return render(fmt, "comments", body, frame)


ROUTES = [comments]
