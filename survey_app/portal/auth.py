"""Bearer-key authentication for the portal API."""

from __future__ import annotations

from litestar import Request
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from survey_app import apikeys
from survey_app.apikeys import KeyHolder
from survey_app.storage.tables import Role

BEARER = "bearer"


async def portal_key(request: Request) -> KeyHolder:
    """Dependency: the portal key in ``Authorization: Bearer <key>``, or 401/403."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != BEARER or not key.strip():
        raise NotAuthorizedException(
            detail="Missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    holder = await apikeys.authenticate(key.strip())
    if holder is None:
        raise NotAuthorizedException(
            detail="Unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    if holder.role is not Role.portal or holder.agency_id is None:
        raise PermissionDeniedException(detail="This endpoint needs a portal key of an agency")
    return holder


# How handlers ask for the authenticated portal (dependency named ``holder``).
PortalHolder = NamedDependency[KeyHolder]
