"""Anonymised microdata for researchers, streamed, with its data dictionary.

One row per response: no comment, no transaction hash, no identifier, the
submission time truncated to its local day (``SURVEY_TIMEZONE``). Rows are read in batches by id, so
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
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter
from litestar.response import Stream

from survey_app.audit import log as audit
from survey_app.auth.guards import PrincipalDep, staff_or_key
from survey_app.db.cells import OVERALL, REASONS
from survey_app.db.replica import reads_from_replica
from survey_app.db.tables import Channel, Response, ResponseReason, Role
from survey_app.lib.clock import local_day
from survey_app.lib.context import AppContext, Ctx
from survey_app.lib.media import CSV, PARQUET
from survey_app.lib.openapi import API_ERRORS
from survey_app.lib.settings import SUPPORTED_LOCALES
from survey_app.statistics.counts import where_filters
from survey_app.statistics.filters import Filters, FiltersDep, parse_filters
from survey_app.statistics.parquet_export import parquet_chunks

BATCH = 5000
MICRODATA_ROLES = (Role.admin, Role.researcher)


@dataclass(frozen=True)
class Column:
    """One column of the export: what the dictionary says of it and how a row fills it."""

    spec: dict[str, Any]
    value: Callable[[dict[str, Any], set[str], dict[str, Any]], Any]

    @property
    def name(self) -> str:
        return str(self.spec["name"])


def _day(row: dict[str, Any], _reasons: set[str], _answers: dict[str, Any]) -> str:
    return local_day(row["submitted_at"]).isoformat()


def _field(name: str) -> Callable[[dict[str, Any], set[str], dict[str, Any]], Any]:
    return lambda row, _reasons, _answers: row[name]


def _answer(qid: str) -> Callable[[dict[str, Any], set[str], dict[str, Any]], Any]:
    if qid == OVERALL:
        return lambda row, _reasons, _answers: row["overall"]
    return lambda _row, _reasons, answers: answers.get(qid)


def _ticked(qid: str, code: str) -> Callable[[dict[str, Any], set[str], dict[str, Any]], Any]:
    if qid == REASONS:
        return lambda _row, reasons, _answers: int(code in reasons)

    def ticked(_row: dict[str, Any], _reasons: set[str], answers: dict[str, Any]) -> Any:
        given = answers.get(qid)
        return None if given is None else int(code in given)

    return ticked


def layout(ctx: AppContext, questionnaire_id: str | None) -> list[Column]:
    """The export's columns: with a questionnaire, one per question it asks (one per
    option of a multiple choice, none for free text); without, the shared ones."""

    def labels(msgid: str) -> dict[str, str]:
        return {locale: ctx.catalogs.gettext(locale, msgid) for locale in SUPPORTED_LOCALES}

    zone = ctx.settings.timezone
    head = [
        Column(
            {
                "name": "agency",
                "type": "string",
                "description": "Agency code (see /admin for names)",
            },
            _field("agency"),
        ),
        Column(
            {"name": "service", "type": "string", "description": "Service code"}, _field("service")
        ),
        Column(
            {"name": "channel", "type": "string", "codes": [c.value for c in Channel]},
            _field("channel"),
        ),
        Column(
            {"name": "locale", "type": "string", "codes": list(SUPPORTED_LOCALES)},
            _field("locale"),
        ),
        Column(
            {
                "name": "date",
                "type": "date",
                "description": f"Day the answer was submitted, local time ({zone})",
            },
            _day,
        ),
    ]
    tail = [
        Column({"name": "questionnaire_id", "type": "string"}, _field("questionnaire_id")),
        Column(
            {"name": "questionnaire_version", "type": "integer"}, _field("questionnaire_version")
        ),
    ]
    if questionnaire_id is None:
        shared = ctx.questionnaire(ctx.default_questionnaire)
        assert shared is not None
        ratings, reasons = shared.question(OVERALL), shared.question(REASONS)
        body = [
            Column(
                {
                    "name": "rating",
                    "type": "integer",
                    "description": "Overall satisfaction, 1-5; CSAT counts 4 and 5 as satisfied",
                    "codes": {o.value: labels(o.label) for o in ratings.options},
                },
                _answer(OVERALL),
            ),
            *(
                Column(
                    {
                        "name": f"reason_{o.value}",
                        "type": "integer (0/1)",
                        "description": "1 when the citizen gave this reason "
                        "(asked when rating <= 3)",
                        "labels": labels(o.label),
                    },
                    _ticked(REASONS, o.value),
                )
                for o in reasons.options
            ),
        ]
        return [*head, *body, *tail]
    questionnaire = ctx.questionnaire(questionnaire_id)
    assert questionnaire is not None
    body = []
    for question in questionnaire.questions:
        text = labels(question.text)
        if question.kind == "rating":
            spec = {
                "name": question.id,
                "type": "integer",
                "description": f"Rating 1-{question.scale}; empty when not answered",
                "question": text,
                "codes": {o.value: labels(o.label) for o in question.options},
            }
            body.append(Column(spec, _answer(question.id)))
        elif question.kind == "choice":
            spec = {
                "name": question.id,
                "type": "string",
                "description": "The code chosen; empty when not answered",
                "question": text,
                "codes": {o.value: labels(o.label) for o in question.options},
            }
            body.append(Column(spec, _answer(question.id)))
        elif question.kind == "multi":
            for o in question.options:
                spec = {
                    "name": f"{question.id}_{o.value}",
                    "type": "integer (0/1)",
                    "description": f"1 when this answer was ticked in {question.id!r}",
                    "question": text,
                    "labels": labels(o.label),
                }
                body.append(Column(spec, _ticked(question.id, o.value)))
    return [*head, *body, *tail]


async def microdata_rows(filters: Filters, columns: list[Column]) -> AsyncIterator[list[Any]]:
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
                Response.answers,
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
            stored = row["answers"]
            answers = json.loads(stored) if isinstance(stored, str) else dict(stored or {})
            yield [column.value(row, given, answers) for column in columns]


async def csv_chunks(
    filters: Filters,
    columns: list[Column],
    counted: Callable[[int], Awaitable[None]] | None = None,
) -> AsyncIterator[bytes]:
    """The CSV in chunks of 1,000 rows; ``counted`` gets the number of rows before the last
    chunk is handed over."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow([column.name for column in columns])
    count = 0
    async for row in microdata_rows(filters, columns):
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
    # Read a moment behind, from the replica when there is one (``db.replica``).
    before_request = reads_from_replica

    @get(
        "/responses.csv",
        dependencies={"filters": Provide(parse_filters)},
        summary="Anonymised microdata, one row per response (CSV, streamed)",
        media_type=CSV,
        raises=API_ERRORS,
    )
    async def responses_csv(
        self, request: Request, ctx: Ctx, principal: PrincipalDep, filters: FiltersDep
    ) -> Stream:
        """With ``questionnaire=``, the responses to that questionnaire and a column per
        question it asks; without, every response and the columns all share."""
        columns = layout(ctx, _known(ctx, filters.questionnaire))
        entry = await audit.record(
            principal, audit.route_of(request), "csv", filters.to_dict(), None
        )
        return Stream(
            csv_chunks(filters, columns, partial(audit.finish, entry)),
            media_type=CSV,
            headers={"Content-Disposition": 'attachment; filename="responses.csv"'},
        )

    @get(
        "/responses.parquet",
        dependencies={"filters": Provide(parse_filters)},
        summary="Anonymised microdata as Parquet: typed, its dictionary in the schema (streamed)",
        media_type=PARQUET,
        raises=API_ERRORS,
    )
    async def responses_parquet(
        self, request: Request, ctx: Ctx, principal: PrincipalDep, filters: FiltersDep
    ) -> Stream:
        """The rows and columns of ``responses.csv``, typed (dates as dates, ratings as
        integers), in row groups; each column's entry of ``dictionary.json`` (codes and
        labels in every language) is in its field's metadata."""
        questionnaire = _known(ctx, filters.questionnaire)
        columns = layout(ctx, questionnaire)
        entry = await audit.record(
            principal, audit.route_of(request), "parquet", filters.to_dict(), None
        )
        return Stream(
            parquet_chunks(
                microdata_rows(filters, columns),
                data_dictionary(ctx, questionnaire),
                partial(audit.finish, entry),
            ),
            media_type=PARQUET,
            headers={"Content-Disposition": 'attachment; filename="responses.parquet"'},
        )

    @get(
        "/dictionary.json",
        summary="What each column of the microdata export means",
        raises=API_ERRORS,
    )
    async def dictionary(
        self,
        ctx: Ctx,
        questionnaire: Annotated[
            str | None, QueryParameter(description="The export of this questionnaire (its id)")
        ] = None,
    ) -> dict[str, Any]:
        return data_dictionary(ctx, _known(ctx, questionnaire))


def _known(ctx: AppContext, questionnaire: str | None) -> str | None:
    """``questionnaire`` if it is served; 400 naming the served ones otherwise."""
    if questionnaire is not None and ctx.questionnaire(questionnaire) is None:
        known = ", ".join(sorted(ctx.questionnaires))
        raise ValidationException(
            detail=f"unknown questionnaire {questionnaire!r}: use one of {known}"
        )
    return questionnaire


def data_dictionary(ctx: AppContext, questionnaire: str | None = None) -> dict[str, Any]:
    """The columns of the microdata export, with codes and labels in every language."""
    return {
        "dataset": "Citizen satisfaction with online public services: anonymised responses",
        "excluded": "comments, free text, transaction references, identifiers; time kept as a day",
        "questionnaire": questionnaire,
        "timezone": ctx.settings.timezone,
        "columns": [column.spec for column in layout(ctx, questionnaire)],
    }
