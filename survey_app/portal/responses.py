"""``POST /api/v1/responses``: answers from a portal's own form."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from litestar import post
from litestar.di import Provide
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED

from questionnaires import validate_answers
from survey_app import invitations, submissions
from survey_app.context import Ctx
from survey_app.invitations import TokenState
from survey_app.portal.auth import PortalHolder, portal_key
from survey_app.portal.errors import Conflict, Gone


class ResponseRequest(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    answers: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description='Question id -> value, e.g. {"overall": 2, "reasons": '
            '["portal_error"], "comment": "..."}'
        ),
    ]
    locale: Literal["vi", "en", "id"] | None = None


class ResponseStored(msgspec.Struct):
    token: str
    questionnaire_id: str
    questionnaire_version: int
    submitted_at: dt.datetime


@post(
    "/api/v1/responses",
    dependencies={"holder": Provide(portal_key)},
    tags=["portal"],
    summary="Submit the answers to an invitation",
    status_code=HTTP_201_CREATED,
)
async def submit_response(
    data: JSONBody[ResponseRequest], holder: PortalHolder, ctx: Ctx
) -> ResponseStored:
    """201 once stored; 404 unknown token, 409 already answered, 410 expired, 400 bad answers."""
    invitation = await invitations.find(data.token)
    # A token of another agency is reported exactly like one that does not exist.
    if invitation is None or invitation.agency_id != holder.agency_id:
        raise NotFoundException(detail="Unknown invitation token")
    state = invitation.state()
    if state is TokenState.answered:
        raise Conflict(detail="This invitation has already been answered")
    if state is TokenState.expired:
        raise Gone(detail=f"This invitation expired at {invitation.expires_at.isoformat()}")
    questionnaire = ctx.questionnaire(invitation.questionnaire_id)
    if questionnaire is None:
        raise NotFoundException(detail="The questionnaire of this invitation is no longer served")
    clean, errors = validate_answers(questionnaire, data.answers)
    if errors:
        raise ValidationException(
            detail="Invalid answers",
            extra=[
                {"key": f"answers.{error.question}", "message": error.message % error.params}
                for error in errors
            ],
        )
    locale = data.locale or invitation.locale or "vi"
    try:
        stored = await submissions.store(
            ctx.engine, invitation, questionnaire, clean.values, locale
        )
    except submissions.NotOpen as closed:
        if closed.state is TokenState.expired:
            raise Gone(detail="This invitation has expired") from closed
        raise Conflict(detail="This invitation has already been answered") from closed
    return ResponseStored(
        token=invitation.token,
        questionnaire_id=questionnaire.id,
        questionnaire_version=questionnaire.version,
        submitted_at=stored.submitted_at,
    )
