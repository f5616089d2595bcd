"""Staff session rows that hold a digest of the token: a copy of the database opens no session.

``HashedSessions`` is piccolo_api's session table (same table ``sessions``, same
columns, so no migration) whose rows keep ``sha256(token)`` in the ``token``
column while the cookie keeps the token itself. Every entry point piccolo_api
and piccolo_admin use (``create_session``, ``get_user_id``, ``remove_session``
and their ``_sync`` wrappers, which call these) hashes the token it is given,
so our ``/login`` and piccolo_admin's login share one kind of row. Rows written
before this change hold a plain token; no cookie hashes to them, so their users
simply log in again. A token carries 256 random bits, so a plain SHA-256 is
enough, as for API keys (``apikeys.hash_key``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, fields

from piccolo.engine.base import Engine
from piccolo.table import TableMeta
from piccolo_api.session_auth.tables import SessionsBase

TOKEN_BYTES = 32


def token_digest(token: str) -> str:
    """What the ``token`` column holds for a session whose cookie carries ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


class HashedSessions(SessionsBase, tablename="sessions"):
    """piccolo_api's sessions, stored by the SHA-256 of their token."""

    @classmethod
    async def create_session(
        cls,
        user_id: int,
        expiry_date: dt.datetime | None = None,
        max_expiry_date: dt.datetime | None = None,
    ) -> HashedSessions:
        """Store a new session; the returned object's ``token`` is the cookie value.

        The row holds the digest; the object handed back carries the token for
        the caller to put in the cookie, and must not be saved again.
        """
        token = secrets.token_urlsafe(TOKEN_BYTES)
        session = cls(token=token_digest(token), user_id=user_id)
        if expiry_date:
            session.expiry_date = expiry_date
        if max_expiry_date:
            session.max_expiry_date = max_expiry_date
        await session.save().run()
        session.token = token
        return session

    @classmethod
    async def get_user_id(
        cls, token: str, increase_expiry: dt.timedelta | None = None
    ) -> int | None:
        return await super().get_user_id(token_digest(token), increase_expiry)

    @classmethod
    async def remove_session(cls, token: str) -> None:
        await super().remove_session(token_digest(token))


@dataclass
class _SessionsBaseEngine(TableMeta):
    """Table metadata whose engine is always ``SessionsBase``'s.

    The app binds the tables it lists (``db.tables.ALL_TABLES``, which names
    ``SessionsBase``) to the engine of its settings; this subclass shares that
    binding instead of falling back to ``piccolo_conf``'s engine.
    """

    @property  # type: ignore[override]
    def db(self) -> Engine:
        return SessionsBase._meta.db

    @db.setter
    def db(self, value: Engine) -> None:
        SessionsBase._meta.db = value


HashedSessions._meta = _SessionsBaseEngine(
    **{field.name: getattr(HashedSessions._meta, field.name) for field in fields(TableMeta)}
)
