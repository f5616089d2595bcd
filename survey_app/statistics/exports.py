"""Anonymised microdata for researchers, streamed, with its data dictionary.

One row per response: no comment, no transaction hash, no identifier, the
submission time truncated to the day. Rows are read in batches by id, so
memory stays flat however many rows are exported.

Each export is recorded in the audit log (``survey_app.audit``) before its first row is
sent, with an empty row count; the rows are counted as they stream and the count is set
just before the last chunk is sent. An entry whose count stays empty is an export that
stopped before its end (the client went away, or the server stopped). The data
dictionary holds no citizen data and is not recorded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.response import Stream

from questionnaires import REASON_CODES
from survey_app.audit import log as audit
from survey_app.auth.guards import PrincipalDep, staff_or_key
from survey_app.db.tables import Channel, Response, ResponseReason, Role
from survey_app.lib.clock import as_utc
from survey_app.lib.context import AppContext, Ctx
from survey_app.lib.media import CSV
from survey_app.lib.openapi import API_ERRORS
from survey_app.lib.settings import SUPPORTED_LOCALES
from survey_app.statistics.counts import where_filters
from survey_app.statistics.filters import Filters, FiltersDep, parse_filters

BATCH = 5000
COLUMNS = [
    "agency",
    "service",
    "channel",
    "locale",
    "date",
    "rating",
    *(f"reason_{code}" for code in REASON_CODES),
    "questionnaire_id",
    "questionnaire_version",
]
MICRODATA_ROLES = (Role.admin, Role.researcher)


async def microdata_rows(filters: Filters) -> AsyncIterator[list[Any]]:
    """Export rows in id order, one batch of responses (and their reasons) at a time."""
    last_id = 0
    while True:
        batch = (
            await Response.select(
                Response.id,
                Response.agency.code.as_alias("agency"),
                Response.service.code.as_alias("service"),
                Response.channel,
                Response.locale,
                Response.submitted_at,
                Response.overall,
                Response.questionnaire_id,
                Response.questionnaire_version,
            )
            .where(where_filters(Response, filters) & (Response.id > last_id))
            .order_by(Response.id)
            .limit(BATCH)
        )
        if not batch:
            return
        first, last_id = batch[0]["id"], batch[-1]["id"]
        reasons: dict[int, set[str]] = {}
        for row in await ResponseReason.select(
            ResponseReason.response, ResponseReason.reason
        ).where((ResponseReason.response >= first) & (ResponseReason.response <= last_id)):
            reasons.setdefault(row["response"], set()).add(row["reason"])
        for row in batch:
            given = reasons.get(row["id"], set())
            yield [
                row["agency"],
                row["service"],
                row["channel"],
                row["locale"],
                as_utc(row["submitted_at"]).date().isoformat(),
                row["overall"],
                *(int(code in given) for code in REASON_CODES),
                row["questionnaire_id"],
                row["questionnaire_version"],
            ]


async def csv_chunks(
    filters: Filters, counted: Callable[[int], Awaitable[None]] | None = None
) -> AsyncIterator[bytes]:
    """The CSV in chunks of 1,000 rows; ``counted`` gets the number of rows before the last
    chunk is handed over."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(COLUMNS)
    count = 0
    async for row in microdata_rows(filters):
        writer.writerow(row)
        count += 1
        if count % 1000 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if counted is not None:
        await counted(count)
    yield buffer.getvalue().encode()


class ExportsController(Controller):
    """``/api/v1/exports/...``: microdata for researchers (and admins), keys or sessions."""

    path = "/api/v1/exports"
    tags = ["exports"]
    guards = [staff_or_key(*MICRODATA_ROLES, what="Microdata")]

    @get(
        "/responses.csv",
        dependencies={"filters": Provide(parse_filters)},
        summary="Anonymised microdata, one row per response (CSV, streamed)",
        media_type=CSV,
        raises=API_ERRORS,
    )
    async def responses_csv(
        self, request: Request, principal: PrincipalDep, filters: FiltersDep
    ) -> Stream:
        entry = await audit.record(
            principal, audit.route_of(request), "csv", filters.to_dict(), None
        )
        return Stream(
            csv_chunks(filters, partial(audit.finish, entry)),
            media_type=CSV,
            headers={"Content-Disposition": 'attachment; filename="responses.csv"'},
        )

    @get(
        "/dictionary.json",
        summary="What each column of the microdata export means",
        raises=API_ERRORS,
    )
    async def dictionary(self, ctx: Ctx) -> dict[str, Any]:
        return data_dictionary(ctx)


def data_dictionary(ctx: AppContext) -> dict[str, Any]:
    """The columns of the microdata export, with codes and labels in every language."""
    questionnaire = ctx.questionnaire(ctx.default_questionnaire)
    assert questionnaire is not None
    reasons = questionnaire.question("reasons")
    ratings = questionnaire.question("overall")

    def labels(msgid: str) -> dict[str, str]:
        return {locale: ctx.catalogs.gettext(locale, msgid) for locale in SUPPORTED_LOCALES}

    columns: list[dict[str, Any]] = [
        {"name": "agency", "type": "string", "description": "Agency code (see /admin for names)"},
        {"name": "service", "type": "string", "description": "Service code"},
        {"name": "channel", "type": "string", "codes": [c.value for c in Channel]},
        {"name": "locale", "type": "string", "codes": list(SUPPORTED_LOCALES)},
        {"name": "date", "type": "date", "description": "Day the answer was submitted (UTC)"},
        {
            "name": "rating",
            "type": "integer",
            "description": "Overall satisfaction, 1-5; CSAT counts 4 and 5 as satisfied",
            "codes": {o.value: labels(o.label) for o in ratings.options},
        },
        *(
            {
                "name": f"reason_{o.value}",
                "type": "integer (0/1)",
                "description": "1 when the citizen gave this reason (asked when rating <= 3)",
                "labels": labels(o.label),
            }
            for o in reasons.options
        ),
        {"name": "questionnaire_id", "type": "string"},
        {"name": "questionnaire_version", "type": "integer"},
    ]
    return {
        "dataset": "Citizen satisfaction with online public services: anonymised responses",
        "excluded": "comments, free text, transaction references, identifiers; time kept as a day",
        "columns": columns,
    }
