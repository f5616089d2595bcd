"""Free-text comments: an analyst reads those of their own agency, an admin any agency's.

Every answer is recorded in the audit log (``survey_app.audit``) before it is sent: who,
the format, the filters applied (an analyst's own agency included) and the row count.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd
from litestar import Controller, Request, Response
from litestar.di import Provide
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromQuery

from survey_app.audit import log as audit
from survey_app.auth.guards import PrincipalDep, staff_or_key
from survey_app.db.replica import reads_from_replica
from survey_app.db.tables import Comment, Role
from survey_app.lib.clock import local_day
from survey_app.statistics.controller import download
from survey_app.statistics.counts import where_filters
from survey_app.statistics.filters import FiltersDep, parse_filters
from survey_app.statistics.render import check_format, render

MAX_ROWS = 10_000


class CommentsController(Controller):
    """``/api/v1/comments``: free text, for admins and the analysts of its agency."""

    path = "/api/v1/comments"
    tags = ["statistics"]
    guards = [staff_or_key(Role.admin, Role.analyst, what="Comments")]
    # Read a moment behind, from the replica when there is one (``db.replica``).
    before_request = reads_from_replica
    dependencies = {"filters": Provide(parse_filters)}

    @download("/", summary="Citizens' comments (analysts: their own agency only)")
    async def comments(
        self,
        request: Request,
        principal: PrincipalDep,
        filters: FiltersDep,
        format: FromQuery[str] = "json",
    ) -> Response[Any]:
        """Admins read every agency's comments; an analyst those of their own agency."""
        fmt = check_format(format)
        if principal.role is Role.analyst:
            own = principal.agency_code
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
            filters = replace(filters, agency=own)
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
            [{**row, "date": local_day(row.pop("submitted_at")).isoformat()} for row in rows],
            columns=["agency", "service", "rating", "question", "text", "date"],
        )
        frame = frame[["agency", "service", "date", "rating", "question", "text"]]
        body = {
            "filters": filters.to_dict(),
            "count": len(frame),
            "comments": frame.to_dict("records"),
        }
        await audit.record(principal, audit.route_of(request), fmt, body["filters"], len(frame))
        return render(fmt, "comments", body, frame)
