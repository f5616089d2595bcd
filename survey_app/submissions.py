"""Store one response, exactly once, and only after it is committed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from piccolo.engine.base import Engine

from questionnaires import Questionnaire
from survey_app.invitations import InvitationView, TokenState, utcnow
from survey_app.storage.engine import UNIQUE_VIOLATIONS, write_transaction
from survey_app.storage.tables import Comment, Invitation, Response, ResponseReason

# Questions whose answers are free text are stored apart, in ``Comment``.
FREE_TEXT_KIND = "text"
OVERALL = "overall"
REASONS = "reasons"


class NotOpen(Exception):
    """The invitation was answered or expired; ``state`` says which."""

    def __init__(self, state: TokenState) -> None:
        super().__init__(state.value)
        self.state = state


@dataclass(frozen=True)
class Stored:
    response_id: int
    submitted_at: dt.datetime


async def store(
    engine: Engine,
    invitation: InvitationView,
    questionnaire: Questionnaire,
    values: dict[str, object],
    locale: str,
) -> Stored:
    """Commit the response, its reasons and its free text in one transaction.

    Raises ``NotOpen`` when the invitation is no longer answerable. The
    guarded update of ``answered_at`` and the unique ``Response.invitation``
    make a second submission fail even when two arrive at the same instant.
    """
    now = utcnow()
    state = invitation.state(now)
    if state is not TokenState.open:
        raise NotOpen(state)
    structured: dict[str, object] = {}
    free_text: list[tuple[str, str]] = []
    for question in questionnaire.questions:
        if question.id not in values or question.id in (OVERALL, REASONS):
            continue
        value = values[question.id]
        if question.kind == FREE_TEXT_KIND:
            free_text.append((question.id, str(value)))
        else:
            structured[question.id] = list(value) if isinstance(value, tuple) else value
    reasons = values.get(REASONS) or ()
    overall = values.get(OVERALL)
    try:
        async with write_transaction(engine):
            claimed = (
                await Invitation.update({Invitation.answered_at: now})
                .where((Invitation.id == invitation.id) & Invitation.answered_at.is_null())
                .returning(Invitation.id)
            )
            if not claimed:
                raise NotOpen(TokenState.answered)
            rows = await Response.insert(
                Response(
                    invitation=invitation.id,
                    questionnaire_id=questionnaire.id,
                    questionnaire_version=questionnaire.version,
                    agency=invitation.agency_id,
                    service=invitation.service_id,
                    channel=invitation.channel,
                    locale=locale,
                    submitted_at=now,
                    overall=overall,
                    answers=structured,
                )
            ).returning(Response.id)
            response_id = rows[0]["id"]
            if reasons:
                await ResponseReason.insert(
                    *(ResponseReason(response=response_id, reason=code) for code in reasons)
                )
            if free_text:
                await Comment.insert(
                    *(
                        Comment(response=response_id, question=qid, text=text, created_at=now)
                        for qid, text in free_text
                    )
                )
    except UNIQUE_VIOLATIONS as error:
        raise NotOpen(TokenState.answered) from error
    return Stored(response_id=response_id, submitted_at=now)
