"""``POST /api/v1/invitations``: one single-use invitation per completed transaction.

The handler checks the service, then queues the invitation on the process's
group-commit writer (``invitations.batch``), which issues it with every other
invitation and submission that queued meanwhile, in one transaction; the 201
(or the 200 of an invitation already issued for the transaction) is sent
only after that transaction committed.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated

import msgspec
from litestar import Request, Response, post
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from survey_app.agencies.directory import service_choice
from survey_app.auth.apikeys import KeyHolder
from survey_app.auth.guards import PrincipalDep, portal_key
from survey_app.db.tables import Channel
from survey_app.db.writer import WriterDep
from survey_app.invitations.batch import Issue
from survey_app.invitations.service import Issued, transaction_key
from survey_app.lib.context import AppContext, Ctx
from survey_app.lib.exceptions import JSON_BODY_ERRORS
from survey_app.lib.openapi import BODY_ERRORS, Locale, StrictJSON

log = logging.getLogger("survey.invitations")


class InvitationRequest(msgspec.Struct, forbid_unknown_fields=True):
    transaction_ref: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=200,
            description="The portal's reference of the completed transaction; stored only "
            "as a keyed hash. Repeating it returns the same invitation.",
        ),
    ]
    service: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="Service code")]
    channel: Channel
    locale: Locale | None = None


class InvitationCreated(msgspec.Struct):
    token: str
    url: str
    expires_at: dt.datetime
    questionnaire: Annotated[
        str,
        msgspec.Meta(
            description="Id of the questionnaire this invitation asks (GET "
            "/api/v1/questionnaires/{id}): the service's, else its agency's, else the default, "
            "as assigned when the invitation was first issued"
        ),
    ]


def questionnaire_url(ctx: AppContext, request: Request, token: str, locale: str | None) -> str:
    base = (ctx.settings.public_url or str(request.base_url)).rstrip("/")
    return f"{base}/s/{token}" + (f"?lang={locale}" if locale else "")


@post(
    "/api/v1/invitations",
    guards=[portal_key],
    tags=["portal"],
    summary="Request the invitation for a completed transaction",
    status_code=HTTP_201_CREATED,
    responses={
        HTTP_200_OK: ResponseSpec(
            InvitationCreated,
            description="The invitation already issued for this transaction",
            generate_examples=False,
        )
    },
    raises=BODY_ERRORS,
    exception_handlers=JSON_BODY_ERRORS,
)
async def create_invitation(
    request: Request,
    data: StrictJSON[InvitationRequest],
    principal: PrincipalDep,
    ctx: Ctx,
    writer: WriterDep,
) -> Response[InvitationCreated]:
    """201 with a new invitation, or 200 with the one already issued for this transaction."""
    holder = principal
    assert isinstance(holder, KeyHolder)
    assert holder.agency_id is not None
    assert holder.agency_code is not None
    service = await service_choice(holder.agency_id, data.service)
    if service is None:
        raise ValidationException(
            detail=f"Unknown service {data.service!r} for agency {holder.agency_code}",
            extra=[{"key": "service", "message": "not a service of this agency"}],
        )
    questionnaire_id = service.questionnaire(ctx.questionnaires, ctx.default_questionnaire)
    if service.assigned and questionnaire_id != service.assigned[0]:
        log.warning(
            "service %s is assigned questionnaire %r, which this server does not serve; using %r",
            data.service,
            service.assigned[0],
            questionnaire_id,
        )
    issued: Issued = await writer.submit(
        Issue(
            key=transaction_key(ctx.settings.secret, holder.agency_code, data.transaction_ref),
            agency=holder.agency_id,
            service=service.id,
            channel=data.channel.value,
            locale=data.locale,
            questionnaire_id=questionnaire_id,
            days=ctx.settings.invitation_days,
        )
    )
    return Response(
        InvitationCreated(
            token=issued.token,
            url=questionnaire_url(ctx, request, issued.token, data.locale),
            expires_at=issued.expires_at,
            questionnaire=issued.questionnaire_id,
        ),
        status_code=HTTP_201_CREATED if issued.created else HTTP_200_OK,
    )
