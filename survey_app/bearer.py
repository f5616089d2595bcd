"""``Authorization: Bearer <key>``: who is calling, and may they."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from litestar import Request
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from survey_app import apikeys
from survey_app.apikeys import KeyHolder
from survey_app.storage.tables import Role

CHALLENGE = {"WWW-Authenticate": "Bearer"}


def bearer_key(request: Request) -> str:
    """The key of ``Authorization: Bearer <key>``, or 401 when there is none."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise NotAuthorizedException(
            detail="Missing API key: send 'Authorization: Bearer <key>'", headers=CHALLENGE
        )
    return key.strip()


async def holder_of(request: Request) -> KeyHolder:
    """The holder of the request's bearer key, or 401."""
    holder = await apikeys.authenticate(bearer_key(request))
    if holder is None:
        raise NotAuthorizedException(detail="Unknown or revoked API key", headers=CHALLENGE)
    return holder


def key_with_role(*roles: Role, what: str) -> Callable[[Request], Coroutine[Any, Any, KeyHolder]]:
    """A dependency admitting keys of ``roles`` only (403 for the others)."""

    async def dependency(request: Request) -> KeyHolder:
        holder = await holder_of(request)
        if holder.role not in roles:
            allowed = ", ".join(role.value for role in roles)
            raise PermissionDeniedException(detail=f"{what} needs a key with role {allowed}")
        return holder

    return dependency
