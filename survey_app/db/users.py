"""Staff logins whose password hashing runs in threads, off the event loop.

Piccolo's ``BaseUser.login`` hashes with PBKDF2 (about 160 ms of CPU) on the loop: sixteen
logins held every other request for seconds. ``StaffUser`` is the same table
(``piccolo_user``) with the same checks and the same answers, but each hash runs in
``workers.hashing_threads`` (``hashlib`` releases the GIL while it hashes). ``/login``
and piccolo_admin's login (its ``auth_table``) both use it.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging

from piccolo.apps.user.tables import BaseUser

from survey_app.lib.workers import in_hashing_thread

log = logging.getLogger("survey")


class StaffUser(BaseUser, tablename="piccolo_user"):
    """``BaseUser``, hashing in threads."""

    @classmethod
    async def login(cls, username: str, password: str) -> int | None:
        """The user's id when ``password`` is theirs, else None (as ``BaseUser.login``:
        an unknown user costs a hash too, so timing does not tell who exists)."""
        if (longest := cls.username.length) and len(username) > longest:
            log.warning("Excessively long username provided.")
            return None
        if len(password) > cls._max_password_length:
            log.warning("Excessively long password provided.")
            return None
        row = (
            await cls.select(cls._meta.primary_key, cls.password)
            .where(cls.username == username)
            .first()
        )
        if not row:
            await in_hashing_thread(cls.hash_password, password)
            return None
        stored = row["password"]
        _, iterations, salt, _ = cls.split_stored_password(stored)
        hashed = await in_hashing_thread(cls.hash_password, password, salt, int(iterations))
        if not hmac.compare_digest(hashed, stored):
            return None
        changes: dict = {cls.last_login: dt.datetime.now()}
        if int(iterations) != cls._pbkdf2_iteration_count:
            # Hashed with an older iteration count: store it with today's.
            changes[cls.password] = await in_hashing_thread(cls.hash_password, password)
        await cls.update(changes).where(cls.username == username)
        return row["id"]
