"""Issue invitations and look them up by token.

A token is 192 random bits (``secrets.token_urlsafe(24)``), so it cannot be
guessed; the transaction reference is kept only as an HMAC under the server
secret, bound to the agency, which makes issuing idempotent per
(agency, transaction) without storing the reference itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum

from survey_app.db import cells
from survey_app.db.engine import UNIQUE_VIOLATIONS, read_by_key, write_transaction
from survey_app.db.tables import TOKEN_BYTES, Invitation
from survey_app.lib.clock import as_utc, utcnow


def transaction_key(secret: str, agency_code: str, transaction_ref: str) -> str:
    message = f"{agency_code}\x00{transaction_ref}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True)
class Issued:
    """An invitation as issued; ``questionnaire_id`` is the one recorded when it was made."""

    token: str
    expires_at: dt.datetime
    questionnaire_id: str
    created: bool


async def issue(
    *,
    secret: str,
    agency_id: int,
    agency_code: str,
    service_id: int,
    channel: str,
    locale: str | None,
    questionnaire_id: str,
    transaction_ref: str,
    days: int,
) -> Issued:
    """Return the invitation for this transaction, creating it on first request."""
    key = transaction_key(secret, agency_code, transaction_ref)
    existing = await _by_key(key)
    if existing:
        return existing
    now = utcnow()
    expires_at = now + dt.timedelta(days=days)
    token = new_token()
    engine = Invitation._meta.db
    try:
        # The invitation and its count in the statistics cells, together or neither.
        async with write_transaction(engine):
            await Invitation.insert(
                Invitation(
                    token=token,
                    transaction_key=key,
                    agency=agency_id,
                    service=service_id,
                    channel=channel,
                    locale=locale,
                    questionnaire_id=questionnaire_id,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            await cells.count_invitation(
                engine, now, agency_id, service_id, channel, questionnaire_id
            )
    except UNIQUE_VIOLATIONS:
        # Two requests for one transaction raced; the loser returns the winner's row.
        existing = await _by_key(key)
        if existing:
            return existing
        raise
    return Issued(
        token=token, expires_at=expires_at, questionnaire_id=questionnaire_id, created=True
    )


async def _by_key(key: str) -> Issued | None:
    row = (
        await Invitation.select(
            Invitation.token, Invitation.expires_at, Invitation.questionnaire_id
        )
        .where(Invitation.transaction_key == key)
        .first()
    )
    if row is None:
        return None
    return Issued(
        token=row["token"],
        expires_at=as_utc(row["expires_at"]),
        questionnaire_id=row["questionnaire_id"],
        created=False,
    )


class TokenState(StrEnum):
    open = "open"
    answered = "answered"
    expired = "expired"


@dataclass(frozen=True)
class InvitationView:
    """An invitation as the citizen page and the response API need it."""

    id: int
    token: str
    agency_id: int
    agency_code: str
    agency_name: str
    agency_names: dict[str, str]
    frame_origins: str
    service_id: int
    service_name: str
    service_names: dict[str, str]
    channel: str
    locale: str | None
    questionnaire_id: str
    expires_at: dt.datetime
    answered_at: dt.datetime | None

    def state(self, now: dt.datetime | None = None) -> TokenState:
        if self.answered_at is not None:
            return TokenState.answered
        if (now or utcnow()) >= self.expires_at:
            return TokenState.expired
        return TokenState.open

    def agency_label(self, locale: str) -> str:
        return self.agency_names.get(locale) or self.agency_name

    def service_label(self, locale: str) -> str:
        return self.service_names.get(locale) or self.service_name


# The citizen page's one query, written once: building it through Piccolo's select (two
# joins, aliased columns) cost more CPU than the rest of the page together.
SELECT_INVITATION = (
    'SELECT i."id", i."token", a."id" AS agency_id, a."code" AS agency_code, '
    'a."name" AS agency_name, a."names" AS agency_names, a."frame_origins", '
    's."id" AS service_id, s."name" AS service_name, s."names" AS service_names, '
    'i."channel", i."locale", i."questionnaire_id", i."expires_at", i."answered_at" '
    'FROM "invitation" i JOIN "agency" a ON a."id" = i."agency" '
    'JOIN "service" s ON s."id" = i."service" WHERE i."token" = {}'
)


def _names(value: object) -> dict[str, str]:
    """A JSON column as the drivers give it: text on both engines, or None."""
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


async def find(token: str) -> InvitationView | None:
    """The invitation with this token, or None. Cheap to call with garbage."""
    if not token or len(token) > 64:
        return None
    rows = await read_by_key(Invitation._meta.db, SELECT_INVITATION, token)
    if not rows:
        return None
    row = rows[0]
    answered = row["answered_at"]
    return InvitationView(
        id=row["id"],
        token=row["token"],
        agency_id=row["agency_id"],
        agency_code=row["agency_code"],
        agency_name=row["agency_name"],
        agency_names=_names(row["agency_names"]),
        frame_origins=row["frame_origins"] or "",
        service_id=row["service_id"],
        service_name=row["service_name"],
        service_names=_names(row["service_names"]),
        channel=row["channel"],
        locale=row["locale"],
        questionnaire_id=row["questionnaire_id"],
        expires_at=as_utc(row["expires_at"]),
        answered_at=as_utc(answered) if answered else None,
    )
