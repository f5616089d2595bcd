"""``POST /api/v1/responses``: answers from a portal's own form.

The hot path of the service: the handler parses the body and hands it to the
process's group-commit writer, which checks the key and the token, validates
the answers and stores them in one batch transaction with other concurrent
submissions; the answer is sent only after that transaction committed.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request
from litestar.exceptions import (
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import HTTP_201_CREATED

from survey_app.auth.apikeys import hash_key
from survey_app.auth.guards import (
    CHALLENGE,
    bearer_key,
    hot_post,
    portal_key_checked_in_batch,
)
from survey_app.lib.exceptions import JSON_BODY_ERRORS, Conflict, Gone
from survey_app.lib.openapi import BODY_ERRORS, Locale, StrictJSON
from survey_app.submissions.plan import Outcome, Submission, Verdict
from survey_app.submissions.writer import WriterDep


class ResponseRequest(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    answers: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description='Question id -> value, e.g. {"overall": 2, "reasons": '
            '["portal_error"], "comment": "..."}'
        ),
    ]
    locale: Locale | None = None


class ResponseStored(msgspec.Struct):
    token: str
    questionnaire_id: str
    questionnaire_version: int
    submitted_at: dt.datetime


@hot_post(
    "/api/v1/responses",
    guards=[portal_key_checked_in_batch],
    tags=["portal"],
    summary="Submit the answers to an invitation",
    status_code=HTTP_201_CREATED,
    raises=[*BODY_ERRORS, NotFoundException, Conflict, Gone],
    exception_handlers=JSON_BODY_ERRORS,
)
async def submit_response(
    data: StrictJSON[ResponseRequest], request: Request, writer: WriterDep
) -> ResponseStored:
    """201 once stored; 401/403 key, 404 unknown token, 409 answered, 410 expired, 400 answers."""
    key_hash = hash_key(bearer_key(request))
    outcome = await writer.submit(
        Submission(token=data.token, answers=data.answers, locale=data.locale, key_hash=key_hash)
    )
    if outcome.verdict is not Verdict.stored:
        raise refusal(outcome)
    return ResponseStored(
        token=data.token,
        questionnaire_id=outcome.questionnaire_id or "",
        questionnaire_version=outcome.questionnaire_version or 0,
        submitted_at=outcome.submitted_at or dt.datetime.now(dt.UTC),
    )


def refusal(outcome: Outcome) -> Exception:
    """The HTTP error for a submission that was not stored."""
    match outcome.verdict:
        case Verdict.no_key:
            return NotAuthorizedException(detail="Unknown or revoked API key", headers=CHALLENGE)
        case Verdict.wrong_role:
            return PermissionDeniedException(
                detail="This endpoint needs a portal key bound to an agency"
            )
        case Verdict.unknown:
            return NotFoundException(detail="Unknown invitation token")
        case Verdict.not_served:
            return NotFoundException(
                detail="The questionnaire of this invitation is no longer served"
            )
        case Verdict.answered:
            return Conflict(detail="This invitation has already been answered")
        case Verdict.expired:
            expired = outcome.expires_at.isoformat() if outcome.expires_at else "its deadline"
            return Gone(detail=f"This invitation expired at {expired}")
        case _:
            return ValidationException(
                detail="Invalid answers",
                extra=[
                    {"key": f"answers.{error.question}", "message": error.text()}
                    for error in outcome.errors
                ],
            )
