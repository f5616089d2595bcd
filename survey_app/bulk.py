"""Insert many responses at once (demo data, tests, benchmarks), each with its invitation."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from questionnaires import DEFAULT_QUESTIONNAIRE_ID
from survey_app.storage.tables import Invitation, Response, ResponseReason

CHUNK = 500


@dataclass(frozen=True)
class Synthetic:
    agency_id: int
    service_id: int
    channel: str
    locale: str
    submitted_at: dt.datetime
    overall: int
    reasons: tuple[str, ...] = ()


async def insert_responses(
    records: Sequence[Synthetic],
    questionnaire_version: int = 1,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Store ``records`` as answered invitations with responses and reasons; returns the count."""
    for start in range(0, len(records), CHUNK):
        chunk = records[start : start + CHUNK]
        tokens = [secrets.token_urlsafe(24) for _ in chunk]
        await Invitation.insert(
            *(
                Invitation(
                    token=token,
                    transaction_key=secrets.token_hex(32),
                    agency=r.agency_id,
                    service=r.service_id,
                    channel=r.channel,
                    locale=r.locale,
                    questionnaire_id=DEFAULT_QUESTIONNAIRE_ID,
                    created_at=r.submitted_at,
                    expires_at=r.submitted_at + dt.timedelta(days=14),
                    answered_at=r.submitted_at,
                )
                for token, r in zip(tokens, chunk, strict=True)
            )
        )
        ids = {
            row["token"]: row["id"]
            for row in await Invitation.select(Invitation.id, Invitation.token).where(
                Invitation.token.is_in(tokens)
            )
        }
        await Response.insert(
            *(
                Response(
                    invitation=ids[token],
                    questionnaire_id=DEFAULT_QUESTIONNAIRE_ID,
                    questionnaire_version=questionnaire_version,
                    agency=r.agency_id,
                    service=r.service_id,
                    channel=r.channel,
                    locale=r.locale,
                    submitted_at=r.submitted_at,
                    overall=r.overall,
                    answers={},
                )
                for token, r in zip(tokens, chunk, strict=True)
            )
        )
        response_ids = {
            row["invitation"]: row["id"]
            for row in await Response.select(Response.id, Response.invitation).where(
                Response.invitation.is_in(list(ids.values()))
            )
        }
        reasons = [
            ResponseReason(response=response_ids[ids[token]], reason=code)
            for token, r in zip(tokens, chunk, strict=True)
            for code in r.reasons
        ]
        if reasons:
            await ResponseReason.insert(*reasons)
        if progress:
            progress(len(chunk))
    return len(records)
