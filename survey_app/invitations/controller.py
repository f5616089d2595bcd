"""``POST /api/v1/invitations``: one single-use invitation per completed transaction.

The handler parses the body and queues it on the process's group-commit
writer (``invitations.batch``), which checks the key and the service and
issues the invitation with every other invitation and submission that queued
meanwhile, in one transaction, with no query of the request's own; the 201
(or the 200 of an invitation already issued for the transaction) is sent
only after that transaction committed.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from survey_app.auth.apikeys import hash_key
from survey_app.auth.guards import (
    CHALLENGE,
    bearer_key,
    hot_post,
    portal_key_checked_in_batch,
)
from survey_app.db.tables import Channel
from survey_app.db.writer import WriterDep
from survey_app.invitations.batch import Issue, Refusal, Refused
from survey_app.invitations.service import Issued
from survey_app.lib.context import AppContext, Ctx
from survey_app.lib.exceptions import JSON_BODY_ERRORS
from survey_app.lib.openapi import BODY_ERRORS, Locale, StrictJSON


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


@hot_post(
    "/api/v1/invitations",
    guards=[portal_key_checked_in_batch],
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
    request: Request, data: StrictJSON[InvitationRequest], ctx: Ctx, writer: WriterDep
) -> Response[InvitationCreated]:
    """201 with a new invitation, or 200 with the one already issued for this transaction;
    401/403 key, 400 body or unknown service."""
    issued = await writer.submit(
        Issue(
            key_hash=hash_key(bearer_key(request)),
            service=data.service,
            channel=data.channel.value,
            locale=data.locale,
            days=ctx.settings.invitation_days,
            default_questionnaire=ctx.default_questionnaire,
            transaction_ref=data.transaction_ref,
            secret=ctx.settings.secret,
        )
    )
    if isinstance(issued, Refused):
        raise refusal(issued, data.service)
    assert isinstance(issued, Issued)
    return Response(
        InvitationCreated(
            token=issued.token,
            url=questionnaire_url(ctx, request, issued.token, data.locale),
            expires_at=issued.expires_at,
            questionnaire=issued.questionnaire_id,
        ),
        status_code=HTTP_201_CREATED if issued.created else HTTP_200_OK,
    )


def refusal(refused: Refused, service: str) -> Exception:
    """The HTTP error for an invitation that was not issued (as the ``portal_key`` guard's)."""
    match refused.reason:
        case Refusal.no_key:
            return NotAuthorizedException(detail="Unknown or revoked API key", headers=CHALLENGE)
        case Refusal.wrong_role:
            return PermissionDeniedException(detail="This endpoint needs a key with role portal")
        case Refusal.unbound:
            return PermissionDeniedException(detail="This portal key is not bound to an agency")
        case _:
            return ValidationException(
                detail=f"Unknown service {service!r} for agency {refused.agency_code}",
                extra=[{"key": "service", "message": "not a service of this agency"}],
            )
